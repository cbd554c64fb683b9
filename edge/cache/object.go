package cache

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"
)

// ErrIncomplete is returned to readers of an object whose upstream transfer failed midway.
var ErrIncomplete = errors.New("upstream body incomplete")

// Object is one cached HTTP response. Its body may still be arriving from
// the upstream: readers see the bytes as they are appended (read-while-writer),
// so a part the origin is still writing streams to every waiting viewer.
type Object struct {
	// Key is the cache key.
	Key string

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every change
	status   int
	header   http.Header
	hasHead  bool
	body     []byte
	done     bool
	err      error
	stored   time.Time
	expires  time.Time // zero: never (immutable)
	stale    time.Time // until when it may be served stale on upstream errors
	hits     int
	prefetch bool
}

// NewObject returns an object with no response yet.
func NewObject(key string) *Object {
	return &Object{Key: key, changed: make(chan struct{})}
}

// Complete returns a finished object holding body, for tests and synthetic answers.
func Complete(key string, status int, h http.Header, body []byte) *Object {
	o := NewObject(key)
	o.SetHeader(status, h)
	o.Append(body)
	o.Finish(nil)
	return o
}

func (o *Object) notifyLocked() {
	close(o.changed)
	o.changed = make(chan struct{})
}

// SetHeader records the status and headers; readers waiting in WaitHeader wake.
func (o *Object) SetHeader(status int, h http.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status, o.header, o.hasHead, o.stored = status, h, true, time.Now()
	o.notifyLocked()
}

// Reserve sizes the body buffer for n bytes (the upstream's Content-Length),
// so a growing body is not reallocated (and, while readers hold the old
// buffer, kept twice) on its way in.
func (o *Object) Reserve(n int64) {
	if n <= 0 || n > 1<<30 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if cap(o.body) < int(n) {
		o.body = append(make([]byte, 0, n), o.body...)
	}
}

// Append adds body bytes as they arrive from the upstream.
func (o *Object) Append(b []byte) {
	if len(b) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.body = append(o.body, b...)
	o.notifyLocked()
}

// Finish marks the body complete (err nil) or failed.
func (o *Object) Finish(err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.done {
		return
	}
	o.done, o.err = true, err
	o.notifyLocked()
}

// WaitHeader blocks until the status and headers are known, the transfer
// failed, or ctx ends.
func (o *Object) WaitHeader(ctx context.Context) (int, http.Header, error) {
	for {
		o.mu.Lock()
		status, h, has, done, err, ch := o.status, o.header, o.hasHead, o.done, o.err, o.changed
		o.mu.Unlock()
		switch {
		case has:
			return status, h, nil
		case done:
			if err == nil {
				err = ErrIncomplete
			}
			return 0, nil, err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, nil, ctx.Err()
		}
	}
}

// Next returns the body bytes after off as soon as there are any; done is
// true once the returned bytes end the body. A failed transfer returns its error.
func (o *Object) Next(ctx context.Context, off int) (b []byte, done bool, err error) {
	for {
		o.mu.Lock()
		body, fin, ferr, ch := o.body, o.done, o.err, o.changed
		o.mu.Unlock()
		if off < len(body) {
			return body[off:len(body):len(body)], fin && ferr == nil, nil
		}
		if fin {
			return nil, ferr == nil, ferr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// Done reports whether the body is complete, and the transfer error if it failed.
func (o *Object) Done() (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.done, o.err
}

// Body returns the body received so far.
func (o *Object) Body() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.body[:len(o.body):len(o.body)]
}

// Status returns the HTTP status (0 before the header arrived).
func (o *Object) Status() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status
}

// Header returns the stored response headers (nil before they arrived). Callers must not modify it.
func (o *Object) Header() http.Header {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.header
}

// Size is the number of bytes the object holds, counted against the cache size.
func (o *Object) Size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := len(o.body) + len(o.Key) + 256 // headers and bookkeeping, roughly
	return n
}

// SetExpiry sets until when the object is fresh (zero: forever) and until
// when it may still be served stale if the upstream fails.
func (o *Object) SetExpiry(fresh, stale time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.expires, o.stale = fresh, stale
}

// Fresh reports whether the object may be served without asking the upstream.
func (o *Object) Fresh(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.expires.IsZero() || now.Before(o.expires)
}

// ServableStale reports whether the object may stand in for an upstream that fails.
func (o *Object) ServableStale(now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.done && o.err == nil && now.Before(o.stale)
}

// Age returns how long ago the object was stored.
func (o *Object) Age(now time.Time) time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.stored.IsZero() {
		return 0
	}
	return now.Sub(o.stored)
}

// MarkPrefetched records that the edge fetched the object before anyone asked.
func (o *Object) MarkPrefetched() {
	o.mu.Lock()
	o.prefetch = true
	o.mu.Unlock()
}

// Hit counts a viewer served from the object and reports whether it was the
// first hit on a prefetched object (a prefetch that paid off).
func (o *Object) Hit() (firstPrefetchHit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hits++
	return o.prefetch && o.hits == 1
}

// Wasted reports whether the object was prefetched and never served.
func (o *Object) Wasted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.prefetch && o.hits == 0
}
