package sim

import (
	"math"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// lru is a byte-bounded LRU with the same eviction as edge/cache (one
// hashicorp simplelru per cache, unbounded in count, entries dropped from
// the old end until the bytes fit) but holding sizes instead of bodies: the
// real edge/cache copies every body, and 200 edges of real bodies would
// need tens of gigabytes for a one-minute model.
type lru struct {
	l       *simplelru.LRU[uint64, entry]
	bytes   int64
	max     int64
	evicted int64
}

type entry struct {
	size    int64
	expires time.Duration // simulated time; 0: never (immutable)
}

func newLRU(maxBytes int64) *lru {
	c := &lru{max: maxBytes}
	c.l, _ = simplelru.NewLRU[uint64, entry](math.MaxInt, func(_ uint64, e entry) { c.bytes -= e.size })
	return c
}

// get reports whether id is cached and fresh at now (and marks it used).
func (c *lru) get(id uint64, now time.Duration) bool {
	e, ok := c.l.Get(id)
	if !ok {
		return false
	}
	if e.expires != 0 && now >= e.expires {
		c.l.Remove(id)
		return false
	}
	return true
}

// add stores id; ttl 0 keeps it until evicted.
func (c *lru) add(id uint64, size int64, now, ttl time.Duration) {
	if c.max <= 0 || size > c.max {
		return
	}
	e := entry{size: size}
	if ttl > 0 {
		e.expires = now + ttl
	}
	if old, ok := c.l.Peek(id); ok {
		c.bytes -= old.size
	}
	c.l.Add(id, e)
	c.bytes += size
	for c.bytes > c.max {
		if _, _, ok := c.l.RemoveOldest(); !ok {
			break
		}
		c.evicted++
	}
}
