package srt

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/livecdn/livecdn/ingest"
)

// recorder is a Handler that keeps every stream and unit it is given.
type recorder struct {
	mu      sync.Mutex
	streams []*ingest.Stream
	units   map[string][]ingest.Unit
	closed  map[string]bool
}

func (r *recorder) Publish(s *ingest.Stream) (ingest.Sink, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.streams = append(r.streams, s)
	return &recSink{r: r, name: s.Name}, nil
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.units[name])
}

func (r *recorder) stream(name string) *ingest.Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.streams {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func (r *recorder) isClosed(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed[name]
}

type recSink struct {
	r    *recorder
	name string
}

func (s *recSink) WriteUnit(u *ingest.Unit) error {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.units[s.name] = append(s.r.units[s.name], *u)
	return nil
}

func (s *recSink) Close() {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.r.closed[s.name] = true
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// env is one server on a loopback port with a recording hub behind it.
type env struct {
	srv  *Server
	hub  *ingest.Hub
	rec  *recorder
	logs *logBuffer
}

// start runs a server for the test; keys, when set, are required.
func start(t *testing.T, keys *ingest.Keys) *env {
	t.Helper()
	e := &env{rec: &recorder{units: map[string][]ingest.Unit{}, closed: map[string]bool{}}, logs: &logBuffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.hub = ingest.NewHub(ingest.HubConfig{Handler: e.rec, Keys: keys, Logger: log})
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: log}, e.hub)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) url(streamid string) string {
	// ffmpeg 5.1 passes the streamid on verbatim, so it goes in unescaped.
	// libsrt drops unsent data when a live-mode socket closes (linger 0), so
	// a publisher that ends would lose its last 0.1-0.5 s; linger=1 flushes.
	return fmt.Sprintf("srt://%s?streamid=%s&pkt_size=1316&linger=1", e.srv.Addr(), streamid)
}

// dialRetry dials like a real SRT caller, which repeats its handshake: a burst
// of bogus handshakes can overflow gosrt's 128-entry backlog for a moment,
// and gosrt's Dial sends its induction only once.
func dialRetry(t *testing.T, addr string, cfg gosrt.Config) gosrt.Conn {
	t.Helper()
	cfg.ConnectionTimeout = time.Second
	var err error
	for range 5 {
		var conn gosrt.Conn
		if conn, err = gosrt.Dial("srt", addr, cfg); err == nil {
			return conn
		}
		t.Logf("dial: %v (retrying)", err)
	}
	t.Fatalf("dial after garbage datagrams: %v", err)
	return nil
}

// inductionHeader is the 16-byte header of an SRT handshake control packet
// to socket 0 followed by the start of an induction CIF.
func inductionHeader() []byte {
	return []byte{
		0x80, 0x00, 0x00, 0x00, // control, type handshake
		0, 0, 0, 0, // type-specific
		0, 0, 0, 1, // timestamp
		0, 0, 0, 0, // destination socket id
		0, 0, 0, 4, // version 4
		0, 0, 0, 2, // encryption field + extension field
		0, 0, 0, 0, // initial sequence number
		0, 0, 0x05, 0xdc, // MTU
		0, 0, 0x20, 0, // flow window
		0, 0, 0, 1, // handshake type induction
	}
}

// rng is a tiny deterministic generator for test garbage.
type rng struct{ s uint64 }

func newRand(seed uint64) *rng { return &rng{s: seed} }

func (r *rng) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		r.s = r.s*6364136223846793005 + 1442695040888963407
		b[i] = byte(r.s >> 56)
	}
	return b
}
