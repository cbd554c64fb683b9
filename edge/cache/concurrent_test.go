package cache

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// Viewers Get while writers Add growing objects and Recount them, others
// Remove: run under -race; the budget must hold whenever a writer returns.
func TestConcurrent(t *testing.T) {
	for _, shards := range []int{1, 8} {
		t.Run(fmt.Sprint("shards=", shards), func(t *testing.T) {
			const budget = 64 << 10
			var evictions atomic.Int64
			c := NewWithConfig(Config{MaxBytes: budget, Shards: shards,
				OnEvict: func(o *Object) { evictions.Add(1); o.Wasted() }})
			var wg sync.WaitGroup
			var over atomic.Int64
			for w := range 4 { // writers
				wg.Go(func() {
					for i := range 200 {
						o := growing(fmt.Sprintf("/seg/%d/%d", w, i%40))
						c.Add(o)
						for range 4 {
							o.Append(make([]byte, 1000+i*10))
							c.Recount(o)
							if b := c.Bytes(); b > budget {
								over.Store(b)
							}
						}
						o.Finish(nil)
						c.Recount(o)
						if i%7 == 0 {
							c.Remove(o.Key)
						}
					}
				})
			}
			for r := range 8 { // viewers
				wg.Go(func() {
					for i := range 4000 {
						if o, ok := c.Get(fmt.Sprintf("/seg/%d/%d", (r+i)%4, i%40)); ok {
							o.Hit()
							_ = o.Body()
						}
						_ = c.Len()
					}
				})
			}
			wg.Go(func() { // a second writer recounting someone else's objects
				for i := range 2000 {
					if o, ok := c.Peek(fmt.Sprintf("/seg/%d/%d", i%4, i%40)); ok {
						c.Recount(o)
					}
				}
			})
			wg.Wait()
			if b := over.Load(); b != 0 {
				t.Fatalf("Bytes reached %d over %d", b, budget)
			}
			var all []string
			for w := range 4 {
				for i := range 40 {
					all = append(all, fmt.Sprintf("/seg/%d/%d", w, i))
				}
			}
			check(t, c, all) // Bytes equals the stored objects' sizes
			if evictions.Load() == 0 {
				t.Fatal("no evictions: the test does not exercise the budget")
			}
		})
	}
}
