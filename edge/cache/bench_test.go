package cache

import (
	"fmt"
	"sync/atomic"
	"testing"
)

var shardCounts = []int{1, 4, 16}

// benchKeys returns n segment-like keys.
func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("/live/stream%d/720p/seg%06d.m4s", i%8, i)
	}
	return keys
}

// BenchmarkGetParallel is viewers hitting cached segments from every core:
// the case a cache-wide lock would serialise.
func BenchmarkGetParallel(b *testing.B) {
	keys := benchKeys(4096)
	for _, n := range shardCounts {
		b.Run(fmt.Sprint("shards=", n), func(b *testing.B) {
			c := NewWithConfig(Config{MaxBytes: 1 << 30, Shards: n})
			for _, k := range keys {
				c.Add(obj(k, 4096))
			}
			var seq atomic.Uint32
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 997
				for pb.Next() {
					if _, ok := c.Get(keys[i&4095]); !ok {
						b.Fatal("miss")
					}
					i++
				}
			})
		})
	}
}

// BenchmarkGetParallelUnshared is the contention-free bound for
// BenchmarkGetParallel: each goroutine reads its own private cache, so
// nothing is shared between cores. The gap to it is what locking costs.
func BenchmarkGetParallelUnshared(b *testing.B) {
	keys := benchKeys(4096)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := NewWithConfig(Config{MaxBytes: 1 << 30, Shards: 1})
		for _, k := range keys {
			c.Add(obj(k, 4096))
		}
		i := 0
		for pb.Next() {
			if _, ok := c.Get(keys[i&4095]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
}

// BenchmarkGetParallelHot is every viewer asking for the same few objects
// (the newest part and playlist of one popular stream): one shard gets all
// the traffic whatever the shard count.
func BenchmarkGetParallelHot(b *testing.B) {
	keys := benchKeys(4)
	for _, n := range shardCounts {
		b.Run(fmt.Sprint("shards=", n), func(b *testing.B) {
			c := NewWithConfig(Config{MaxBytes: 1 << 30, Shards: n})
			for _, k := range keys {
				c.Add(obj(k, 4096))
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					c.Get(keys[i&3])
					i++
				}
			})
		})
	}
}

// BenchmarkAddChurn adds objects to a full cache, so every Add evicts one:
// the steady state of an edge following live streams.
func BenchmarkAddChurn(b *testing.B) {
	const held = 1024 // objects that fit
	keys := benchKeys(4 * held)
	objs := make([]*Object, len(keys))
	for i, k := range keys {
		objs[i] = obj(k, 4096)
	}
	for _, n := range shardCounts {
		b.Run(fmt.Sprint("shards=", n), func(b *testing.B) {
			c := NewWithConfig(Config{MaxBytes: held * 4096, Shards: n})
			for _, o := range objs {
				c.Add(o)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				c.Add(objs[i%len(objs)])
			}
		})
	}
}

// BenchmarkMixedParallel is 90% Get, 9% Add with eviction, 1% Recount of a
// growing object, from every core.
func BenchmarkMixedParallel(b *testing.B) {
	const held = 1024
	keys := benchKeys(2 * held)
	objs := make([]*Object, len(keys))
	for i, k := range keys {
		objs[i] = obj(k, 4096)
	}
	for _, n := range shardCounts {
		b.Run(fmt.Sprint("shards=", n), func(b *testing.B) {
			c := NewWithConfig(Config{MaxBytes: held * 4096, Shards: n})
			for _, o := range objs {
				c.Add(o)
			}
			var seq atomic.Uint32
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seq.Add(1)) * 7919
				for pb.Next() {
					o := objs[i%len(objs)]
					switch i % 100 {
					case 0:
						c.Recount(o)
					case 1, 2, 3, 4, 5, 6, 7, 8, 9:
						c.Add(o)
					default:
						c.Get(o.Key)
					}
					i++
				}
			})
		})
	}
}
