package follow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livecdn/livecdn/edge/upstream"
)

// Follower follows one media playlist path upstream and answers the
// blocking reloads of all its viewers. Get one from Registry.Get.
type Follower struct {
	path string
	reg  *Registry
	cfg  *Config

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex // serialises state changes; readers use the atomic
	state atomic.Pointer[state]

	lastUse   atomic.Int64 // registry clock, nanoseconds
	stoppedAt atomic.Int64 // registry clock, when the loop ended
	waiters   atomic.Int64
}

// state is replaced, never modified, so Wait reads it without a lock.
type state struct {
	snap    *Snapshot
	err     error // last upstream failure; nil after a success
	stopped bool
	final   error // why it stopped: ErrGone, ErrClosed, nil after EXT-X-ENDLIST
	// changed is closed when a state that waiters must look at replaces
	// this one (a playlist with a new part, or the stop).
	changed chan struct{}
}

func newFollower(r *Registry, path string) *Follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &Follower{path: path, reg: r, cfg: &r.cfg, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	f.state.Store(&state{changed: make(chan struct{})})
	f.touch()
	return f
}

// Path returns the media playlist path the follower follows.
func (f *Follower) Path() string { return f.path }

// Latest returns the newest playlist fetched, if any.
func (f *Follower) Latest() (*Snapshot, bool) {
	s := f.state.Load().snap
	return s, s != nil
}

// Err returns why the last upstream request failed (nil if it succeeded),
// or, once the follower stopped, ErrGone or ErrClosed.
func (f *Follower) Err() error {
	st := f.state.Load()
	if st.stopped && st.final != nil {
		return st.final
	}
	return st.err
}

// Healthy reports that the follower runs, has a playlist and its last
// upstream request succeeded.
func (f *Follower) Healthy() bool {
	st := f.state.Load()
	return !st.stopped && st.snap != nil && st.err == nil
}

// Done is closed when the follower has stopped.
func (f *Follower) Done() <-chan struct{} { return f.done }

// Waiters returns how many Wait calls are held now.
func (f *Follower) Waiters() int { return int(f.waiters.Load()) }

func (f *Follower) touch() { f.lastUse.Store(f.reg.now()) }

// Wait returns the newest playlist once it contains part part of segment
// msn (the whole segment if part < 0; any playlist if msn < 0), at once if
// it already does. It fails with ErrTooFar if msn is more than two segments
// past the playlist, ErrTimeout if the part does not appear within the hold
// timeout, ErrGone or ErrClosed if the follower stops, or ctx's error.
// After EXT-X-ENDLIST it returns the final playlist for any part.
func (f *Follower) Wait(ctx context.Context, msn int64, part int) (*Snapshot, error) {
	f.touch()
	st := f.state.Load()
	if s, err, ok := check(st, msn, part); ok {
		return s, err
	}
	f.waiters.Add(1)
	f.cfg.Metrics.Waiters.Inc()
	// No touch on the way out: the sweeper counts held waiters as activity
	// and refreshes lastUse, which keeps the release of thousands of
	// waiters down to two atomic adds each.
	defer func() {
		f.cfg.Metrics.Waiters.Dec()
		f.waiters.Add(-1)
	}()
	start := time.Now()
	hold := f.holdTimeout(st.snap)
	timer := time.NewTimer(hold)
	defer timer.Stop()
	for {
		select {
		case <-st.changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
			return nil, ErrTimeout
		}
		st = f.state.Load()
		if s, err, ok := check(st, msn, part); ok {
			return s, err
		}
		// The target duration is known only once a playlist arrived.
		if h := f.holdTimeout(st.snap); h != hold {
			hold = h
			timer.Reset(time.Until(start.Add(hold)))
		}
	}
}

// check decides a Wait from one state; ok false means hold on.
func check(st *state, msn int64, part int) (*Snapshot, error, bool) {
	if s := st.snap; s != nil {
		if s.Ended || s.Has(msn, part) {
			return s, nil, true
		}
		if s.tooFar(msn) {
			return nil, ErrTooFar, true
		}
	}
	if st.stopped {
		if st.final == nil {
			return nil, ErrClosed, true
		}
		return nil, st.final, true
	}
	return nil, nil, false
}

func (f *Follower) holdTimeout(s *Snapshot) time.Duration {
	switch {
	case f.cfg.HoldTimeout > 0:
		return f.cfg.HoldTimeout
	case s == nil:
		return f.cfg.StartTimeout
	default:
		return s.holdTimeout()
	}
}

func (f *Follower) fetchTimeout(s *Snapshot) time.Duration {
	switch {
	case f.cfg.FetchTimeout > 0:
		return f.cfg.FetchTimeout
	case s == nil:
		return f.cfg.StartTimeout
	default:
		// The upstream holds a blocking request up to three target
		// durations (then 503); the viewers' HoldTimeout does not change that.
		return 4 * s.TargetDuration
	}
}

// update publishes a new state; wake releases the waiters to look at it.
func (f *Follower) update(wake bool, fn func(*state)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old := f.state.Load()
	st := *old
	fn(&st)
	if wake {
		st.changed = make(chan struct{})
	}
	f.state.Store(&st)
	if wake {
		close(old.changed)
	}
}

// run is the follower's loop; the registry started it.
func (f *Follower) run() {
	defer f.reg.wg.Done()
	final := f.loop()
	f.cancel()
	f.stoppedAt.Store(f.reg.now())
	f.update(true, func(st *state) { st.stopped, st.final = true, final })
	f.cfg.Metrics.Followers.Dec()
	close(f.done)
}

// loop fetches until the follower is cancelled (ErrClosed), the upstream
// says the playlist is gone (ErrGone) or the playlist ends (nil).
func (f *Follower) loop() error {
	var backoff time.Duration
	fails4xx := 0
	plain := true // the next request is a plain reload
	for {
		cur := f.state.Load().snap
		query := ""
		switch {
		case plain || cur == nil:
		case cur.CanBlock && cur.PartTarget > 0:
			msn, part := cur.Next()
			query = "_HLS_msn=" + strconv.FormatInt(msn, 10) + "&_HLS_part=" + strconv.Itoa(part)
		default: // not LL-HLS: poll
			if !f.sleep(time.Until(cur.Fetched.Add(cur.pollInterval()))) {
				return ErrClosed
			}
		}
		snap, status, err := f.fetch(query, cur)
		if f.ctx.Err() != nil {
			return ErrClosed
		}
		if err == nil {
			backoff, fails4xx, plain = 0, 0, false
			moved := !snap.samePosition(cur)
			f.update(moved, func(st *state) { st.snap, st.err = snap, nil })
			if snap.Ended {
				return nil
			}
			// An upstream that answers a blocking request without the part
			// (it ignores _HLS_msn) must not make this loop spin.
			if !moved && query != "" && !f.sleep(f.cfg.BackoffMin) {
				return ErrClosed
			}
			continue
		}
		f.cfg.Metrics.UpstreamErrors.Inc()
		if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
			if fails4xx++; fails4xx >= f.cfg.GoneAfter {
				return ErrGone
			}
			// Our _HLS_msn may be wrong (the stream restarted with lower
			// numbers): start over from a plain reload.
			plain = true
		} else {
			fails4xx = 0
		}
		f.update(false, func(st *state) { st.err = err })
		backoff = min(max(2*backoff, f.cfg.BackoffMin), f.cfg.BackoffMax)
		if !f.sleep(backoff) {
			return ErrClosed
		}
	}
}

// sleep waits d; false if the follower was cancelled meanwhile.
func (f *Follower) sleep(d time.Duration) bool {
	if d <= 0 {
		return f.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.ctx.Done():
		return false
	}
}

// StatusError is the error of an upstream answer other than 200.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return "follow: upstream answered " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code)
}

var errTooLarge = errors.New("follow: playlist larger than MaxBody")

// fetch makes one upstream request; status is the upstream's answer code
// when it answered other than 200.
func (f *Follower) fetch(query string, cur *Snapshot) (*Snapshot, int, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.fetchTimeout(cur))
	defer cancel()
	kind := "plain"
	if query != "" {
		kind = "blocking"
	}
	f.cfg.Metrics.UpstreamRequests.WithLabelValues(kind).Inc()
	resp, err := f.reg.up.Fetch(ctx, &upstream.Request{
		Path:   f.path,
		Query:  query,
		Header: http.Header{RequestHeader: {"1"}},
	})
	if err == nil && resp == nil {
		err = errors.New("no response")
	}
	if err != nil {
		return nil, 0, fmt.Errorf("follow: %s %s: %w", kind, f.path, err)
	}
	defer resp.Body.Close()
	if resp.Status != http.StatusOK {
		return nil, resp.Status, &StatusError{Code: resp.Status}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.cfg.MaxBody+1))
	if err != nil {
		return nil, 0, fmt.Errorf("follow: reading %s: %w", f.path, err)
	}
	if int64(len(body)) > f.cfg.MaxBody {
		return nil, 0, errTooLarge
	}
	snap, err := parseSnapshot(body, storedHeader(resp.Header), time.Now())
	if err != nil {
		return nil, 0, err
	}
	return snap, 0, nil
}
