package cache

import (
	"context"
	"errors"
	"net/http"
	"os"
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
	waiters  int           // readers parked on changed: no close (and no new channel) without them
	status   int
	header   http.Header
	fields   []Field // header as canonical byte pairs, built once for every response
	hasHead  bool
	body     []byte // nil once sealed
	length   int64  // expected body length (Content-Length), -1 unknown
	done     bool
	err      error
	stored   time.Time
	expires  time.Time // zero: never (immutable)
	stale    time.Time // until when it may be served stale on upstream errors
	hits     int
	prefetch bool
	file     *os.File // the complete body, once sealed (see Seal)
	size     int      // body length once sealed
	encoded  []byte   // the compressed variant (see Encoded)
}

// Field is one stored response header, name in canonical form.
type Field struct{ Name, Value []byte }

// View is a consistent snapshot of an object taken under one lock, with
// everything a response needs.
type View struct {
	Status int
	Header http.Header // callers must not modify it
	Fields []Field     // Header as byte pairs; callers must not modify them
	// Body holds the bytes received so far, unless the object is sealed:
	// then File holds all Size bytes and Body is nil.
	Body []byte
	File *os.File
	Size int
	// Length is the upstream's Content-Length (-1: unknown); with Done and
	// no Err the body is complete.
	Length int64
	Done   bool
	Err    error
	Stored time.Time
	// FirstPrefetchHit is set by Hit on the first viewer of a prefetched object.
	FirstPrefetchHit bool
}

// Len is the number of body bytes the view covers.
func (v *View) Len() int {
	if v.File != nil {
		return v.Size
	}
	return len(v.Body)
}

// NewObject returns an object with no response yet.
func NewObject(key string) *Object {
	return &Object{Key: key, changed: make(chan struct{}), length: -1}
}

// Complete returns a finished object holding body, for tests and synthetic answers.
func Complete(key string, status int, h http.Header, body []byte) *Object {
	o := NewObject(key)
	o.SetHeader(status, h)
	o.Reserve(int64(len(body)))
	o.Append(body)
	o.Finish(nil)
	return o
}

// notifyLocked wakes the parked readers. An append nobody waits for costs
// no channel: readers busy writing find the new bytes when they come back.
func (o *Object) notifyLocked() {
	if o.waiters == 0 {
		return
	}
	close(o.changed)
	o.changed = make(chan struct{})
	o.waiters = 0
}

// waitLocked returns the channel a reader parks on; the caller must wait
// on it after unlocking.
func (o *Object) waitLocked() chan struct{} {
	o.waiters++
	return o.changed
}

// SetHeader records the status and headers; readers waiting in WaitHeader wake.
func (o *Object) SetHeader(status int, h http.Header) {
	fields := make([]Field, 0, len(h))
	for name, vs := range h {
		for _, v := range vs {
			fields = append(fields, Field{Name: []byte(http.CanonicalHeaderKey(name)), Value: []byte(v)})
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.status, o.header, o.fields, o.hasHead, o.stored = status, h, fields, true, time.Now()
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
	o.length = n
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
		status, h, has, done, err := o.status, o.header, o.hasHead, o.done, o.err
		var ch chan struct{}
		if !has && !done {
			ch = o.waitLocked()
		}
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
		body, fin, ferr, f, size := o.body, o.done, o.err, o.file, o.size
		var ch chan struct{}
		if f == nil && off >= len(body) && !fin {
			ch = o.waitLocked()
		}
		o.mu.Unlock()
		if f != nil {
			// Sealed while this reader lagged behind. Copy a bounded piece
			// (500 lagging viewers must not each copy a whole segment);
			// streaming viewers avoid this by sending from File instead.
			if off >= size {
				return nil, true, nil
			}
			b := make([]byte, min(size-off, 64<<10))
			if _, err := f.ReadAt(b, int64(off)); err != nil {
				return nil, false, err
			}
			return b, off+len(b) == size, nil
		}
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

// File returns the file holding the complete body and its length once the
// object is sealed, or nil.
func (o *Object) File() (*os.File, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.file, o.size
}

// WaitDone blocks until the body is complete (returning its length) or the
// transfer failed, without touching the bytes.
func (o *Object) WaitDone(ctx context.Context) (int, error) {
	for {
		o.mu.Lock()
		fin, ferr, n := o.done, o.err, len(o.body)
		if o.file != nil {
			n = o.size
		}
		var ch chan struct{}
		if !fin {
			ch = o.waitLocked()
		}
		o.mu.Unlock()
		if fin {
			return n, ferr
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// Done reports whether the body is complete, and the transfer error if it failed.
func (o *Object) Done() (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.done, o.err
}

// Body returns the body received so far (a copy read back from the file
// once the object is sealed: use View on hot paths).
func (o *Object) Body() []byte {
	o.mu.Lock()
	body, f, size := o.body, o.file, o.size
	o.mu.Unlock()
	if f != nil {
		b := make([]byte, size)
		if _, err := f.ReadAt(b, 0); err != nil {
			return nil
		}
		return b
	}
	return body[:len(body):len(body)]
}

// Hit counts a viewer served from the object and returns a snapshot of it,
// all under one lock. FirstPrefetchHit is set on the first hit of a
// prefetched object (a prefetch that paid off).
func (o *Object) Hit() View {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hits++
	v := o.viewLocked()
	v.FirstPrefetchHit = o.prefetch && o.hits == 1
	return v
}

// View returns a snapshot of the object without counting a hit.
func (o *Object) View() View {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.viewLocked()
}

func (o *Object) viewLocked() View {
	return View{Status: o.status, Header: o.header, Fields: o.fields, Body: o.body[:len(o.body):len(o.body)],
		File: o.file, Size: o.size, Length: o.length, Done: o.done, Err: o.err, Stored: o.stored}
}

// Encoded returns the body's encoded variant (e.g. gzip), built by enc from
// the complete body on the first call and kept with the object, so a
// playlist version is compressed once and not for every viewer. It returns
// nil while the body is incomplete or sealed.
func (o *Object) Encoded(enc func(body []byte) []byte) []byte {
	o.mu.Lock()
	e, body, ok := o.encoded, o.body, o.done && o.err == nil && o.file == nil
	o.mu.Unlock()
	if e != nil || !ok {
		return e
	}
	e = enc(body) // outside the lock; two viewers may race to build it, both are right
	o.mu.Lock()
	if o.encoded == nil {
		o.encoded = e
	}
	e = o.encoded
	o.mu.Unlock()
	return e
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

// Size is the number of bytes the object holds, counted against the cache
// size: the body's capacity (what the heap holds, not just what arrived) or,
// once sealed, its file's pages, plus any encoded variant.
func (o *Object) Size() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := cap(o.body)
	if o.file != nil {
		n = (o.size + pageSize - 1) &^ (pageSize - 1)
	}
	return n + len(o.encoded) + len(o.Key) + 256 // headers and bookkeeping, roughly
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

// Wasted reports whether the object was prefetched and never served.
func (o *Object) Wasted() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.prefetch && o.hits == 0
}
