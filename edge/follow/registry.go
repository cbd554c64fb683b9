package follow

import (
	"sync"
	"time"

	"github.com/livecdn/livecdn/edge/upstream"
)

// Registry owns the followers of one edge: at most one per media playlist
// path, started on demand and stopped when idle.
type Registry struct {
	up    upstream.Upstream
	cfg   Config
	epoch time.Time // the clock of lastUse/stoppedAt: monotonic nanoseconds since

	mu        sync.Mutex
	followers map[string]*Follower
	closed    bool

	stop chan struct{}  // ends the sweeper
	wg   sync.WaitGroup // the sweeper and every follower loop
}

// NewRegistry returns a registry fetching from up. Close it to stop every
// follower.
func NewRegistry(up upstream.Upstream, cfg Config) *Registry {
	r := &Registry{
		up:        up,
		cfg:       cfg.withDefaults(),
		epoch:     time.Now(),
		followers: map[string]*Follower{},
		stop:      make(chan struct{}),
	}
	r.wg.Add(1)
	go r.sweeper()
	return r
}

func (r *Registry) now() int64 { return int64(time.Since(r.epoch)) }

// Get returns the running follower of path (the escaped media playlist
// path, without query), starting one if there is none. Every call counts
// as viewer activity. A follower that ended (ErrGone, EXT-X-ENDLIST) is
// returned as is for Config.RetryGone, then replaced by a new one. After
// Close, Get returns a stopped follower whose Wait fails with ErrClosed.
func (r *Registry) Get(path string) *Follower {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if f := r.followers[path]; f != nil {
		if !f.state.Load().stopped || now-f.stoppedAt.Load() < int64(r.cfg.RetryGone) {
			f.lastUse.Store(now)
			return f
		}
	}
	f := newFollower(r, path)
	if r.closed {
		f.cancel()
		f.state.Store(&state{stopped: true, final: ErrClosed, changed: make(chan struct{})})
		close(f.done)
		return f
	}
	r.followers[path] = f
	r.cfg.Metrics.Followers.Inc()
	r.wg.Add(1)
	go f.run()
	return f
}

// Len returns the number of followers in the registry (running, or ended
// and within RetryGone).
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.followers)
}

// Close stops every follower, fails their waiters with ErrClosed and
// returns once all their goroutines have ended.
func (r *Registry) Close() error {
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		for path, f := range r.followers {
			f.cancel()
			delete(r.followers, path)
		}
		close(r.stop)
	}
	r.mu.Unlock()
	r.wg.Wait()
	return nil
}

// sweeper stops followers nobody asked anything of for Config.Idle.
func (r *Registry) sweeper() {
	defer r.wg.Done()
	t := time.NewTicker(min(max(r.cfg.Idle/4, 5*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.sweep()
		}
	}
}

func (r *Registry) sweep() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for path, f := range r.followers {
		if f.waiters.Load() > 0 {
			f.lastUse.Store(now) // the idle time starts when the last waiter leaves
			continue
		}
		if now-f.lastUse.Load() < int64(r.cfg.Idle) {
			continue
		}
		delete(r.followers, path)
		f.cancel() // its loop ends, publishes ErrClosed and leaves wg
	}
}
