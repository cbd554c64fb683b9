package cache

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// overhead is what Object.Size adds to the body and key length.
const overhead = 256

// obj returns a finished object under key whose Size is exactly size.
func obj(key string, size int) *Object {
	n := size - len(key) - overhead
	if n < 0 {
		panic("size below the object overhead")
	}
	return Complete(key, 200, nil, make([]byte, n))
}

// growing returns an object with a header and no body yet, as an in-flight
// upstream response looks when it is added.
func growing(key string) *Object {
	o := NewObject(key)
	o.SetHeader(200, nil)
	return o
}

// exact returns a single-shard cache, whose LRU order is exact.
func exact(maxBytes int64, onEvict func(*Object)) *Cache {
	return NewWithConfig(Config{MaxBytes: maxBytes, Shards: 1, OnEvict: onEvict})
}

// check returns the stored keys among all, checking Len and Bytes against them.
func check(t *testing.T, c *Cache, all []string) []string {
	t.Helper()
	var got []string
	var sum int64
	for _, k := range all {
		if o, ok := c.Peek(k); ok {
			got = append(got, k)
			sum += int64(o.Size())
		}
	}
	if c.Bytes() != sum {
		t.Fatalf("Bytes() = %d, objects hold %d", c.Bytes(), sum)
	}
	if c.Len() != len(got) {
		t.Fatalf("Len() = %d, found %d keys", c.Len(), len(got))
	}
	return got
}

// op is one step of a table-driven scenario against a 3000-byte cache.
type op struct {
	do   string // add, grow, get, remove, purge
	key  string
	size int // add: the object's Size; grow: bytes appended
}

func TestBudgetAndOrder(t *testing.T) {
	const budget = 3000
	all := []string{"a", "b", "c", "d", "e"}
	tests := []struct {
		name    string
		ops     []op
		want    []string // stored keys afterwards, in `all` order
		evicted []string // OnEvict calls, in order
	}{
		{
			name: "fits",
			ops:  []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 1000}},
			want: []string{"a", "b", "c"},
		},
		{
			name:    "oldest goes first",
			ops:     []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 1000}, {"add", "d", 1000}},
			want:    []string{"b", "c", "d"},
			evicted: []string{"a"},
		},
		{
			name: "get refreshes",
			ops: []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 1000},
				{"get", "a", 0}, {"add", "d", 1000}},
			want:    []string{"a", "c", "d"},
			evicted: []string{"b"},
		},
		{
			name: "peek does not refresh",
			ops: []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 1000},
				{"peek", "a", 0}, {"add", "d", 1000}},
			want:    []string{"b", "c", "d"},
			evicted: []string{"a"},
		},
		{
			name:    "one big add evicts several",
			ops:     []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 500}, {"add", "d", 2500}},
			want:    []string{"c", "d"},
			evicted: []string{"a", "b"},
		},
		{
			name: "replace charges the new size only",
			ops: []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "a", 1500},
				{"add", "c", 500}},
			want: []string{"a", "b", "c"},
		},
		{
			name:    "replace makes most recent",
			ops:     []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 1000}, {"add", "a", 1000}, {"add", "d", 1000}},
			want:    []string{"a", "c", "d"},
			evicted: []string{"b"},
		},
		{
			name: "grow evicts oldest others",
			ops: []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", 800},
				{"grow", "c", 700}},
			want:    []string{"b", "c"},
			evicted: []string{"a"},
		},
		{
			name: "grow of the oldest evicts itself",
			ops: []op{{"add", "c", 800}, {"add", "a", 1000}, {"add", "b", 1000},
				{"grow", "c", 700}},
			want:    []string{"a", "b"},
			evicted: []string{"c"},
		},
		{
			name:    "oversized add is not kept and keeps the rest",
			ops:     []op{{"add", "a", 1000}, {"add", "b", 1000}, {"add", "c", budget + 1}},
			want:    []string{"a", "b"},
			evicted: []string{"c"},
		},
		{
			name:    "exactly the budget is kept",
			ops:     []op{{"add", "a", 1000}, {"add", "c", budget}},
			want:    []string{"c"},
			evicted: []string{"a"},
		},
		{
			name:    "growing past the budget drops only itself",
			ops:     []op{{"add", "a", 1000}, {"add", "c", 1000}, {"grow", "c", budget}},
			want:    []string{"a"},
			evicted: []string{"c"},
		},
		{
			name:    "oversized replacement drops the old value silently",
			ops:     []op{{"add", "a", 1000}, {"add", "a", budget + 1}},
			want:    nil,
			evicted: []string{"a"},
		},
		{
			name: "remove and purge are not evictions",
			ops: []op{{"add", "a", 1000}, {"add", "b", 1000}, {"remove", "a", 0},
				{"add", "c", 1000}, {"purge", "", 0}, {"add", "d", 1000}},
			want: []string{"d"},
		},
		{
			name: "grow after remove is ignored",
			ops:  []op{{"add", "a", 1000}, {"remove", "a", 0}, {"add", "b", 1000}, {"grow", "a", 5000}},
			want: []string{"b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evicted []string
			c := exact(budget, func(o *Object) { evicted = append(evicted, o.Key) })
			objs := map[string]*Object{}
			for i, o := range tt.ops {
				switch o.do {
				case "add":
					objs[o.key] = obj(o.key, o.size)
					c.Add(objs[o.key])
				case "grow":
					objs[o.key].Append(make([]byte, o.size))
					c.Recount(objs[o.key])
				case "get":
					if got, ok := c.Get(o.key); !ok || got != objs[o.key] {
						t.Fatalf("step %d: Get(%q) = %p, %v", i, o.key, got, ok)
					}
				case "peek":
					if got, ok := c.Peek(o.key); !ok || got != objs[o.key] {
						t.Fatalf("step %d: Peek(%q) = %p, %v", i, o.key, got, ok)
					}
				case "remove":
					c.Remove(o.key)
				case "purge":
					c.Purge()
				}
				if c.Bytes() > budget {
					t.Fatalf("step %d (%v): Bytes() = %d over %d", i, o, c.Bytes(), budget)
				}
				check(t, c, all)
			}
			if got := check(t, c, all); !slices.Equal(got, tt.want) {
				t.Errorf("stored %q, want %q", got, tt.want)
			}
			if !slices.Equal(evicted, tt.evicted) {
				t.Errorf("evicted %q, want %q", evicted, tt.evicted)
			}
		})
	}
}

func TestReplaceKeepsOldObjectReadable(t *testing.T) {
	var evictions int
	c := New(10_000, func(*Object) { evictions++ })
	old := Complete("k", 200, nil, []byte("old"))
	c.Add(old)
	nu := Complete("k", 200, nil, []byte("new body"))
	c.Add(nu)
	if got, _ := c.Get("k"); got != nu {
		t.Fatalf("Get after replace returned the old object")
	}
	// The writer of the replaced object may still recount it: no effect.
	old.Append([]byte("more"))
	c.Recount(old)
	if c.Bytes() != int64(nu.Size()) || c.Len() != 1 || evictions != 0 {
		t.Fatalf("Bytes %d Len %d evictions %d; want %d 1 0", c.Bytes(), c.Len(), evictions, nu.Size())
	}
	if string(old.Body()) != "oldmore" {
		t.Fatalf("old body %q", old.Body())
	}
	// Re-adding the stored object refreshes it without double counting.
	c.Add(nu)
	if c.Bytes() != int64(nu.Size()) || c.Len() != 1 {
		t.Fatalf("re-add: Bytes %d Len %d", c.Bytes(), c.Len())
	}
}

// A reader holding an in-flight object keeps receiving its body after the
// cache dropped it for outgrowing the budget.
func TestOversizedWhileReading(t *testing.T) {
	const budget = 4096
	var evicted []*Object
	c := New(budget, func(o *Object) { evicted = append(evicted, o) })
	small := obj("small", 1000)
	c.Add(small)

	o := growing("/live/s/720p/seg1.m4s")
	c.Add(o)
	reader, _ := c.Get(o.Key)
	var want bytes.Buffer
	for i := range 8 {
		chunk := bytes.Repeat([]byte{byte('a' + i)}, 1024)
		want.Write(chunk)
		o.Append(chunk)
		c.Recount(o)
		if c.Bytes() > budget {
			t.Fatalf("chunk %d: Bytes %d over budget", i, c.Bytes())
		}
	}
	o.Finish(nil)
	c.Recount(o)

	if _, ok := c.Peek(o.Key); ok {
		t.Fatal("object larger than the budget still stored")
	}
	// While it still fit, its growth pushed out the older small object; once
	// it outgrew the budget it went itself.
	if len(evicted) != 2 || evicted[0] != small || evicted[1] != o {
		t.Fatalf("evicted %d objects, want small then the oversized one", len(evicted))
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("Len %d Bytes %d after both left", c.Len(), c.Bytes())
	}
	var got []byte
	for {
		b, done, err := reader.Next(context.Background(), len(got))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b...)
		if done {
			break
		}
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("reader got %d bytes, want %d", len(got), want.Len())
	}
}

func TestZeroBudgetKeepsNothing(t *testing.T) {
	for _, max := range []int64{0, -1} {
		n := 0
		c := New(max, func(*Object) { n++ })
		c.Add(obj("a", 300))
		if c.Len() != 0 || c.Bytes() != 0 || n != 1 {
			t.Errorf("max %d: Len %d Bytes %d evictions %d", max, c.Len(), c.Bytes(), n)
		}
	}
}

// The callback runs outside the cache's locks: it may use the cache.
func TestEvictCallbackMayUseCache(t *testing.T) {
	var c *Cache
	wasted := 0
	c = exact(2000, func(o *Object) {
		if o.Wasted() {
			wasted++
		}
		c.Peek(o.Key) // would deadlock under the shard lock
		_ = c.Len()
	})
	for i := range 10 {
		o := obj(fmt.Sprint(i), 1000)
		o.MarkPrefetched()
		if i%2 == 0 {
			o.Hit()
		}
		c.Add(o)
	}
	if wasted != 4 { // 0..7 evicted; 1, 3, 5, 7 never served
		t.Fatalf("wasted prefetches %d, want 4", wasted)
	}
}

func TestEvictionCount(t *testing.T) {
	tests := []struct {
		budget, size, adds int
		shards             int
		wantMin, wantMax   int
	}{
		{budget: 10_000, size: 1000, adds: 100, shards: 1, wantMin: 90, wantMax: 90},
		{budget: 10_000, size: 1000, adds: 5, shards: 1, wantMin: 0, wantMax: 0},
		{budget: 10_000, size: 20_000, adds: 7, shards: 1, wantMin: 7, wantMax: 7},
		// Sharded: each shard keeps at most its budget, so at least
		// adds - budget/size objects go.
		{budget: 16_000, size: 1000, adds: 1000, shards: 4, wantMin: 984, wantMax: 1000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%d×%d/%d", tt.budget, tt.size, tt.adds, tt.shards), func(t *testing.T) {
			var n atomic.Int64
			c := NewWithConfig(Config{MaxBytes: int64(tt.budget), Shards: tt.shards,
				OnEvict: func(*Object) { n.Add(1) }})
			for i := range tt.adds {
				c.Add(obj(fmt.Sprintf("k%04d", i), tt.size))
			}
			got := int(n.Load())
			if got < tt.wantMin || got > tt.wantMax {
				t.Errorf("evictions %d, want %d..%d", got, tt.wantMin, tt.wantMax)
			}
			if got+c.Len() != tt.adds {
				t.Errorf("evictions %d + Len %d != adds %d", got, c.Len(), tt.adds)
			}
			if c.Bytes() > int64(tt.budget) {
				t.Errorf("Bytes %d over %d", c.Bytes(), tt.budget)
			}
		})
	}
}

func TestShardedBudget(t *testing.T) {
	c := NewWithConfig(Config{MaxBytes: 16_003, Shards: 16})
	if len(c.shards) != 16 {
		t.Fatalf("shards %d", len(c.shards))
	}
	var sum int64
	for i := range c.shards {
		sum += c.shards[i].max
	}
	if sum != 16_003 {
		t.Fatalf("shard budgets sum to %d", sum)
	}
	for i := range 500 {
		c.Add(obj(fmt.Sprint(i), 300+i%400))
		if c.Bytes() > 16_003 {
			t.Fatalf("Bytes %d over budget", c.Bytes())
		}
	}
}

func TestDefaultIsOneExactLRU(t *testing.T) {
	if n := len(New(1<<30, nil).shards); n != 1 {
		t.Fatalf("New has %d shards", n)
	}
	for shards, want := range map[int]int{-1: 1, 0: 1, 1: 1, 3: 4, 16: 16} {
		if n := len(NewWithConfig(Config{MaxBytes: 1 << 20, Shards: shards}).shards); n != want {
			t.Errorf("Shards %d: %d shards, want %d", shards, n, want)
		}
	}
}
