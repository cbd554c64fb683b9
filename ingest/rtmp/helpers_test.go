package rtmp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// recorder is the Handler of the tests: it keeps every stream and unit it is given.
type recorder struct {
	mu      sync.Mutex
	streams []*recStream
}

// recStream is one published stream as the handler saw it.
type recStream struct {
	*ingest.Stream

	mu     sync.Mutex
	units  []*ingest.Unit
	closed bool
}

func (r *recorder) Publish(s *ingest.Stream) (ingest.Sink, error) {
	rs := &recStream{Stream: s}
	r.mu.Lock()
	r.streams = append(r.streams, rs)
	r.mu.Unlock()
	return rs, nil
}

func (r *recorder) all() []*recStream {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*recStream(nil), r.streams...)
}

func (r *recorder) count() int { return len(r.all()) }

func (s *recStream) WriteUnit(u *ingest.Unit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.units = append(s.units, u)
	return nil
}

func (s *recStream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
}

func (s *recStream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *recStream) snapshot() []*ingest.Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*ingest.Unit(nil), s.units...)
}

func (s *recStream) numUnits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.units)
}

// unitsOf returns the units of track idx.
func unitsOf(us []*ingest.Unit, idx int) []*ingest.Unit {
	var out []*ingest.Unit
	for _, u := range us {
		if u.Track == idx {
			out = append(out, u)
		}
	}
	return out
}

// env is a running server with its hub and recording handler.
type env struct {
	srv *Server
	hub *ingest.Hub
	rec *recorder
}

// url returns the publish URL of stream name (plus an optional query).
func (e *env) url(pathAndQuery string) string {
	return fmt.Sprintf("rtmp://%s/%s", e.srv.Addr(), pathAndQuery)
}

// newEnv starts a server on a loopback port 0 whose hub uses hc (Handler is
// set to a recorder) and whose Config is adjusted by opts. Everything is
// closed when the test ends.
func newEnv(t *testing.T, hc ingest.HubConfig, opts ...func(*Config)) *env {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rec := &recorder{}
	hc.Handler = ingest.HandlerFunc(rec.Publish)
	hc.Logger = log
	hub := ingest.NewHub(hc)
	cfg := Config{Addr: "127.0.0.1:0", HandshakeTimeout: 3 * time.Second, ReadTimeout: 5 * time.Second, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg, hub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
	})
	return &env{srv: srv, hub: hub, rec: rec}
}

// waitExit waits for ffmpeg to exit and returns its exit error.
func waitExit(t *testing.T, p *testenv.Publisher, timeout time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := p.Wait(ctx)
	if ctx.Err() != nil {
		t.Fatalf("ffmpeg did not exit within %v", timeout)
	}
	return err
}
