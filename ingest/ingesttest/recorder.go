package ingesttest

import (
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
)

var (
	_ ingest.Handler = (*Recorder)(nil)
	_ ingest.Sink    = (*Recording)(nil)
)

// Recorder is an ingest.Handler that accepts every stream and records it,
// with its units and whether its session has ended. The zero value is ready
// to use.
type Recorder struct {
	// mu guards the recorder and every Recording it made, so that one lock
	// gives a consistent view across streams.
	mu      sync.Mutex
	streams []*Recording
	// changed is closed and replaced on every change, waking the waiters.
	changed chan struct{}
}

// Recording is one published stream as the handler saw it. It embeds the
// Stream the session started with (name, protocol, remote, tracks), and it
// is the Sink the session wrote to.
type Recording struct {
	*ingest.Stream

	r      *Recorder
	units  []ingest.Unit
	closed bool
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{} }

// Publish implements ingest.Handler: it records s and returns its Recording as the sink.
func (r *Recorder) Publish(s *ingest.Stream) (ingest.Sink, error) {
	rs := &Recording{Stream: s, r: r}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams = append(r.streams, rs)
	r.notifyLocked()
	return rs, nil
}

// Streams returns the streams published so far, in the order they started.
func (r *Recorder) Streams() []*Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Recording(nil), r.streams...)
}

// NumStreams returns how many streams were published so far.
func (r *Recorder) NumStreams() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.streams)
}

// Stream returns the latest stream published under name, or nil if none was.
func (r *Recorder) Stream(name string) *Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.streamLocked(name)
}

func (r *Recorder) streamLocked(name string) *Recording {
	for i := len(r.streams) - 1; i >= 0; i-- {
		if r.streams[i].Name == name {
			return r.streams[i]
		}
	}
	return nil
}

// WaitStreams waits until at least n streams were published and returns
// them all; it fails the test after timeout.
func (r *Recorder) WaitStreams(t testing.TB, n int, timeout time.Duration) []*Recording {
	t.Helper()
	if !r.wait(timeout, func() bool { return len(r.streams) >= n }) {
		t.Fatalf("ingesttest: %d streams published after %v, want %d", r.NumStreams(), timeout, n)
	}
	return r.Streams()
}

// WaitStream waits until a stream named name is published and returns the
// latest one of that name; it fails the test after timeout.
func (r *Recorder) WaitStream(t testing.TB, name string, timeout time.Duration) *Recording {
	t.Helper()
	var rs *Recording
	if !r.wait(timeout, func() bool { rs = r.streamLocked(name); return rs != nil }) {
		t.Fatalf("ingesttest: no stream %q published within %v", name, timeout)
	}
	return rs
}

// wait reports whether done became true within timeout. done runs with r.mu
// held, so it reads the fields directly and sees one consistent state.
func (r *Recorder) wait(timeout time.Duration, done func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := done()
		changed := r.changedLocked()
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

func (r *Recorder) changedLocked() chan struct{} {
	if r.changed == nil {
		r.changed = make(chan struct{})
	}
	return r.changed
}

func (r *Recorder) notifyLocked() {
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// WriteUnit implements ingest.Sink: it keeps a copy of u (sharing u.Data).
func (s *Recording) WriteUnit(u *ingest.Unit) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.units = append(s.units, *u)
	s.r.notifyLocked()
	return nil
}

// Close implements ingest.Sink: it marks the session as ended.
func (s *Recording) Close() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.closed = true
	s.r.notifyLocked()
}

// Closed reports whether the session has ended.
func (s *Recording) Closed() bool {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.closed
}

// Units returns a copy of the units received so far, of all tracks, in arrival order.
func (s *Recording) Units() []ingest.Unit {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return append([]ingest.Unit(nil), s.units...)
}

// TrackUnits returns the units of track i (an index into Tracks) received so far.
func (s *Recording) TrackUnits(i int) []ingest.Unit {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return ofTrack(s.units, i)
}

// NumUnits returns how many units were received so far.
func (s *Recording) NumUnits() int {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return len(s.units)
}

// WaitUnits waits until at least n units were received; it fails the test
// after timeout.
func (s *Recording) WaitUnits(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	if !s.r.wait(timeout, func() bool { return len(s.units) >= n }) {
		t.Fatalf("ingesttest: stream %q has %d units after %v, want %d", s.Name, s.NumUnits(), timeout, n)
	}
}

// WaitMoreUnits waits until n more units than now were received, to check
// that a publisher keeps delivering; it fails the test after timeout.
func (s *Recording) WaitMoreUnits(t testing.TB, n int, timeout time.Duration) {
	t.Helper()
	s.WaitUnits(t, s.NumUnits()+n, timeout)
}

// WaitClosed waits until the session has ended; it fails the test after timeout.
func (s *Recording) WaitClosed(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !s.r.wait(timeout, func() bool { return s.closed }) {
		t.Fatalf("ingesttest: stream %q still open after %v", s.Name, timeout)
	}
}

// ofTrack returns the units of track i.
func ofTrack(us []ingest.Unit, i int) []ingest.Unit {
	var out []ingest.Unit
	for _, u := range us {
		if u.Track == i {
			out = append(out, u)
		}
	}
	return out
}
