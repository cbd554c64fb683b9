package rtmp

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// env is a running server with its hub and recording handler.
type env struct {
	srv *Server
	hub *ingest.Hub
	rec *ingesttest.Recorder
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
	rec := ingesttest.NewRecorder()
	hc.Handler = rec
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
