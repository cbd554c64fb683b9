// Package coalesce makes concurrent misses for one key share one upstream
// fetch. Unlike x/sync/singleflight, waiters do not wait for a result value:
// they get the in-flight cache.Object at once and read its body while it
// arrives (read-while-writer), and the fetch runs detached from whoever
// started it, so a viewer that disconnects never cancels it for the others.
package coalesce

import (
	"context"
	"sync"

	"github.com/livecdn/livecdn/edge/cache"
)

// Fetch fills o from the upstream: SetHeader, Append…, Finish. It runs in its own goroutine.
type Fetch func(ctx context.Context, o *cache.Object)

// Group is a table of in-flight fetches.
type Group struct {
	ctx context.Context // parent of every fetch: cancelled by Close

	mu      sync.Mutex
	flights map[string]*cache.Object
	wg      sync.WaitGroup
	cancel  context.CancelFunc
}

// New returns an empty group.
func New() *Group {
	ctx, cancel := context.WithCancel(context.Background())
	return &Group{ctx: ctx, cancel: cancel, flights: map[string]*cache.Object{}}
}

// Do returns the in-flight object for key, starting fetch if none is in
// flight; leader reports whether this call started it.
func (g *Group) Do(key string, fetch Fetch) (o *cache.Object, leader bool) {
	g.mu.Lock()
	if o := g.flights[key]; o != nil {
		// A flight that already failed is not joined: it is only waiting to
		// be forgotten, and a viewer retrying at once deserves a new fetch,
		// not the old error.
		if done, err := o.Done(); !done || err == nil {
			g.mu.Unlock()
			return o, false
		}
	}
	o = cache.NewObject(key)
	g.flights[key] = o
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		defer g.forget(key, o)
		fetch(g.ctx, o)
		o.Finish(nil) // a no-op when fetch finished it; guards against forgetting
	}()
	return o, true
}

// InFlight returns the object being fetched for key, if any.
func (g *Group) InFlight(key string) (*cache.Object, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	o, ok := g.flights[key]
	return o, ok
}

// Len returns the number of fetches in flight.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.flights)
}

func (g *Group) forget(key string, o *cache.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.flights[key] == o {
		delete(g.flights, key)
	}
}

// Close cancels every fetch and waits for them.
func (g *Group) Close() {
	g.cancel()
	g.wg.Wait()
}
