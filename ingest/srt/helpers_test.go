package srt

import (
	"fmt"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
)

// env is one server on a loopback port with a recording hub behind it.
type env struct {
	srv  *Server
	hub  *ingest.Hub
	rec  *ingesttest.Recorder
	logs *ingesttest.Logs
}

// start runs a server for the test; keys, when set, are required.
func start(t *testing.T, keys *ingest.Keys) *env {
	t.Helper()
	e := &env{rec: ingesttest.NewRecorder(), logs: &ingesttest.Logs{}}
	log := e.logs.Logger()
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
