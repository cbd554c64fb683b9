package cache

import (
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// entry is what a shard's LRU holds: the object and the size it is charged,
// so a later Recount can apply the difference.
type entry struct {
	obj  *Object
	size int64
}

// shard is one independent LRU with its own lock and byte budget.
type shard struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[string, *entry]
	bytes int64 // sum of the entries' sizes
	max   int64 // byte budget

	// Pad to two cache lines (a spatial prefetcher pulls pairs) so that the
	// locks of neighbouring shards do not share one and bounce between cores.
	_ [128 - 8 - 8 - 8 - 8]byte
}

// dropped is the LRU's removal callback: every way an entry leaves (Remove,
// RemoveOldest, Purge) goes through it, so the byte count cannot drift.
func (s *shard) dropped(_ string, e *entry) {
	s.bytes -= e.size
}

// add stores o charged at size, and appends the objects evicted for it to ev.
func (s *shard) add(o *Object, size int64, ev []*Object) []*Object {
	if old, ok := s.lru.Peek(o.Key); ok {
		if old.obj == o {
			// Sizes only grow, and size may have been read before a
			// concurrent Recount charged more: keep the larger.
			size = max(size, old.size)
		}
		s.lru.Remove(o.Key) // replaced: not an eviction
	}
	if size > s.max {
		return append(ev, o)
	}
	s.lru.Add(o.Key, &entry{obj: o, size: size})
	s.bytes += size
	return s.shrink(ev)
}

// recount charges size to o if o is stored, and appends the objects evicted to ev.
func (s *shard) recount(o *Object, size int64, ev []*Object) []*Object {
	e, ok := s.lru.Peek(o.Key)
	if !ok || e.obj != o {
		return ev // evicted, removed or replaced meanwhile
	}
	if size <= e.size {
		// Object bodies only grow (Append), so a smaller size is a stale
		// read that lost the race for the lock to a newer one.
		return ev
	}
	if size > s.max {
		s.lru.Remove(o.Key)
		return append(ev, o)
	}
	s.bytes += size - e.size
	e.size = size
	return s.shrink(ev)
}

// shrink evicts least recently used entries while over budget.
func (s *shard) shrink(ev []*Object) []*Object {
	for s.bytes > s.max {
		_, e, ok := s.lru.RemoveOldest()
		if !ok {
			break
		}
		ev = append(ev, e.obj)
	}
	return ev
}
