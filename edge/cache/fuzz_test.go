package cache

import (
	"fmt"
	"slices"
	"testing"
)

// model is an obviously correct byte-bounded LRU to check Cache against.
type model struct {
	max     int64
	order   []*Object // most recent first
	charged map[*Object]int64
	evicted []*Object
}

func (m *model) bytes() (n int64) {
	for _, o := range m.order {
		n += m.charged[o]
	}
	return n
}

func (m *model) find(key string) int {
	return slices.IndexFunc(m.order, func(o *Object) bool { return o.Key == key })
}

func (m *model) shrink() {
	for m.bytes() > m.max {
		m.evicted = append(m.evicted, m.order[len(m.order)-1])
		m.order = m.order[:len(m.order)-1]
	}
}

func (m *model) add(o *Object) {
	if i := m.find(o.Key); i >= 0 {
		m.order = slices.Delete(m.order, i, i+1)
	}
	if int64(o.Size()) > m.max {
		m.evicted = append(m.evicted, o)
		return
	}
	m.charged[o] = int64(o.Size())
	m.order = slices.Insert(m.order, 0, o)
	m.shrink()
}

func (m *model) recount(o *Object) {
	i := m.find(o.Key)
	if i < 0 || m.order[i] != o {
		return
	}
	if int64(o.Size()) > m.max {
		m.order = slices.Delete(m.order, i, i+1)
		m.evicted = append(m.evicted, o)
		return
	}
	m.charged[o] = int64(o.Size())
	m.shrink()
}

func (m *model) get(key string) *Object {
	i := m.find(key)
	if i < 0 {
		return nil
	}
	o := m.order[i]
	m.order = slices.Insert(slices.Delete(m.order, i, i+1), 0, o)
	return o
}

// FuzzAgainstModel drives a single-shard Cache and the model with the same
// operations; contents, Bytes and the evictions must match exactly.
func FuzzAgainstModel(f *testing.F) {
	f.Add([]byte{0, 8, 16, 24, 2, 33, 41, 4, 9, 1, 1, 1})
	f.Add([]byte{0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 5})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const budget = 2048
		var evicted []*Object
		c := exact(budget, func(o *Object) { evicted = append(evicted, o) })
		m := &model{max: budget, charged: map[*Object]int64{}}
		live := map[string]*Object{} // the newest object made per key
		for i, b := range ops {
			key := fmt.Sprint("k", b>>5) // 8 keys
			switch b & 7 {
			case 0, 6: // add a new object, 300..1200 bytes
				o := obj(key, 300+int(b)*4)
				live[key] = o
				c.Add(o)
				m.add(o)
			case 1, 7: // grow the newest object for key, stored or not
				if o := live[key]; o != nil {
					o.Append(make([]byte, 64*int(b>>3&3)+1))
					c.Recount(o)
					m.recount(o)
				}
			case 2:
				got, _ := c.Get(key)
				if want := m.get(key); got != want {
					t.Fatalf("op %d: Get(%s) = %p, model %p", i, key, got, want)
				}
			case 3:
				c.Remove(key)
				if j := m.find(key); j >= 0 {
					m.order = slices.Delete(m.order, j, j+1)
				}
			case 4: // re-add the newest object for key
				if o := live[key]; o != nil {
					c.Add(o)
					m.add(o)
				}
			case 5:
				if b>>3 == 0 {
					c.Purge()
					m.order = nil
				}
			}
			if c.Bytes() != m.bytes() || c.Len() != len(m.order) {
				t.Fatalf("op %d: Bytes %d Len %d, model %d %d", i, c.Bytes(), c.Len(), m.bytes(), len(m.order))
			}
			if c.Bytes() > budget {
				t.Fatalf("op %d: over budget", i)
			}
			if !slices.Equal(evicted, m.evicted) {
				t.Fatalf("op %d: evicted %d objects, model %d", i, len(evicted), len(m.evicted))
			}
			for _, o := range m.order {
				if got, _ := c.Peek(o.Key); got != o {
					t.Fatalf("op %d: Peek(%s) = %p, model %p", i, o.Key, got, o)
				}
			}
		}
	})
}
