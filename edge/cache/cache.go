package cache

import (
	"hash/maphash"
	"math"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Config holds the cache's tunables. Start from DefaultConfig.
type Config struct {
	// MaxBytes bounds the bytes held, as counted by Object.Size. Default
	// 1 GiB (the edge's --cache-size). Zero or less keeps nothing: every
	// added object is dropped at once (and reported to OnEvict).
	MaxBytes int64

	// Shards splits the cache into this many independent LRUs (rounded up
	// to a power of two), chosen by key hash, each with its own lock and
	// MaxBytes/Shards of the budget. Default 1: one exact LRU.
	//
	// More shards let more cores look up at once, but LRU order then holds
	// per shard only, and an object larger than one shard's budget is never
	// kept. On the 2-core machines this project is measured on it bought
	// nothing (see the package benchmarks and the numbers on Cache), so it
	// is for many-core edges where BenchmarkGetParallel shows a gain.
	Shards int

	// OnEvict, if not nil, is called for every object the cache drops to
	// stay within MaxBytes, including an object too large to keep at all.
	// It is not called for Remove, Purge or an object replaced by Add. It
	// runs after the cache's lock is released, so it may call the cache.
	OnEvict func(*Object)
}

// DefaultConfig returns a 1 GiB single-shard cache without eviction callback.
func DefaultConfig() Config {
	return Config{MaxBytes: 1 << 30, Shards: 1}
}

// Cache is an LRU of objects bounded by the sum of their sizes, safe for
// concurrent use. Objects may keep growing after they were added (a body
// still arriving from the upstream); the writer calls Recount so the cache
// charges the new size and evicts as needed.
//
// One mutex guards the LRU by default, although every Get writes (it moves
// the entry to the front). Measured on this project's 2-vCPU amd64 machine,
// go1.26, b.RunParallel over 4096 cached keys (ns per Get, all cores busy):
//
//	                      1 core   2 cores
//	1 shard (one mutex)     26       30–38
//	16 shards               32       40–43
//	no sharing at all       27       14–15  (a private cache per goroutine)
//
// (BenchmarkMixedParallel, 90% Get / 9% Add / 1% Recount: 1 shard 59–70 ns,
// 16 shards 62–75 ns on 2 cores.)
//
// Sharding by key did not help: what costs is moving the lock's and the
// list's cache lines between cores, and with keys spread over every shard
// both cores still touch every shard; the hash adds 6 ns. One mutex still
// serves ~25 million Gets a second, far above the requests an edge can
// answer (each costs microseconds of HTTP work), so the simpler exact LRU
// is the default and Config.Shards the knob for many-core machines.
type Cache struct {
	shards  []shard
	mask    uint64
	seed    maphash.Seed
	onEvict func(*Object)
}

// New returns a cache holding at most maxBytes (as counted by Object.Size).
// onEvict may be nil; see Config.OnEvict for when it is called.
func New(maxBytes int64, onEvict func(*Object)) *Cache {
	cfg := DefaultConfig()
	cfg.MaxBytes, cfg.OnEvict = maxBytes, onEvict
	return NewWithConfig(cfg)
}

// NewWithConfig returns a cache configured by cfg.
func NewWithConfig(cfg Config) *Cache {
	n := ceilPow2(max(cfg.Shards, 1))
	c := &Cache{
		shards:  make([]shard, n),
		mask:    uint64(n - 1),
		seed:    maphash.MakeSeed(),
		onEvict: cfg.OnEvict,
	}
	budget := max(cfg.MaxBytes, 0)
	for i := range c.shards {
		s := &c.shards[i]
		// Spread the remainder so the shard budgets sum to exactly MaxBytes.
		s.max = budget / int64(n)
		if int64(i) < budget%int64(n) {
			s.max++
		}
		// The LRU's own count limit is never reached: bytes bound the cache.
		s.lru, _ = simplelru.NewLRU[string, *entry](math.MaxInt, s.dropped)
	}
	return c
}

func ceilPow2(n int) int {
	p := 1
	for p < n && p < 1<<16 {
		p <<= 1
	}
	return p
}

func (c *Cache) shard(key string) *shard {
	if c.mask == 0 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)&c.mask]
}

// Get returns the object stored under key and marks it recently used.
func (c *Cache) Get(key string) (*Object, bool) {
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.lru.Get(key)
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.obj, true
}

// Peek returns the object stored under key without marking it used.
func (c *Cache) Peek(key string) (*Object, bool) {
	s := c.shard(key)
	s.mu.Lock()
	e, ok := s.lru.Peek(key)
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return e.obj, true
}

// Add stores o under o.Key as the most recently used object, replacing any
// other object under that key, and evicts the least recently used objects
// while the cache is over its budget. An object larger than the budget is
// not kept (OnEvict sees it at once); readers already holding it are unaffected.
// Adding an object already stored marks it used and recounts it.
func (c *Cache) Add(o *Object) {
	size := int64(o.Size()) // outside the lock: an Append may hold o's lock while it copies
	s := c.shard(o.Key)
	var buf [4]*Object
	s.mu.Lock()
	ev := s.add(o, size, buf[:0])
	s.mu.Unlock()
	c.report(ev)
}

// Recount charges o's current size if o is still stored (a no-op otherwise,
// so a writer may call it after every Append and after Finish without
// checking), then evicts while over budget. An object that grew beyond the
// whole budget is dropped itself, not kept at the cost of everything else.
// Recount does not mark o used.
func (c *Cache) Recount(o *Object) {
	size := int64(o.Size())
	s := c.shard(o.Key)
	var buf [4]*Object
	s.mu.Lock()
	ev := s.recount(o, size, buf[:0])
	s.mu.Unlock()
	c.report(ev)
}

// Remove drops the object under key, if any. OnEvict is not called.
func (c *Cache) Remove(key string) {
	s := c.shard(key)
	s.mu.Lock()
	s.lru.Remove(key)
	s.mu.Unlock()
}

// RemoveObject drops o if it is still what is stored under its key: a
// failed fetch must not take down another flight's good copy.
func (c *Cache) RemoveObject(o *Object) {
	s := c.shard(o.Key)
	s.mu.Lock()
	if e, ok := s.lru.Peek(o.Key); ok && e.obj == o {
		s.lru.Remove(o.Key)
	}
	s.mu.Unlock()
}

// Len returns the number of objects stored.
func (c *Cache) Len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.lru.Len()
		s.mu.Unlock()
	}
	return n
}

// Bytes returns the bytes charged for the stored objects; it never exceeds
// the budget once a call to Add or Recount has returned.
func (c *Cache) Bytes() int64 {
	var n int64
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += s.bytes
		s.mu.Unlock()
	}
	return n
}

// Purge drops every object. OnEvict is not called.
func (c *Cache) Purge() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		s.lru.Purge()
		s.mu.Unlock()
	}
}

// report calls OnEvict for each evicted object, outside any shard lock so
// the callback may use the cache and objects freely.
func (c *Cache) report(ev []*Object) {
	if c.onEvict == nil {
		return
	}
	for _, o := range ev {
		c.onEvict(o)
	}
}
