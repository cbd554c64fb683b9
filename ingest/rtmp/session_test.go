package rtmp

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// live is a publisher that runs until the test stops it, paced at 1x so it
// stays live while the test acts.
var live = testenv.Source{Realtime: true}

func TestSecondPublisherRefused(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{})
	first := testenv.PublishSource(t, live, "flv", e.url("live/test"))
	st := e.rec.WaitStreams(t, 1, 30*time.Second)[0]
	st.WaitUnits(t, 1, 10*time.Second) // the first publisher delivers units

	second := testenv.PublishSource(t, testenv.Source{Duration: 2 * time.Second}, "flv", e.url("live/test"))
	if err := waitExit(t, second, 20*time.Second); err == nil {
		t.Fatalf("second publisher succeeded, want it refused\n%s", second.Output())
	}
	if !strings.Contains(second.Output(), "already being published") {
		t.Errorf("second ffmpeg does not say why it was refused:\n%s", second.Output())
	}
	st.WaitMoreUnits(t, 16, 10*time.Second) // the first publisher keeps delivering after the refusal
	select {
	case <-first.Done():
		t.Fatalf("first publisher exited:\n%s", first.Output())
	default:
	}
	if n := e.rec.NumStreams(); n != 1 || st.Closed() {
		t.Fatalf("handler saw %d streams (first closed: %v), want only the first, still open", n, st.Closed())
	}
}

func TestTakeover(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{Takeover: true})
	first := testenv.PublishSource(t, live, "flv", e.url("live/test"))
	old := e.rec.WaitStreams(t, 1, 30*time.Second)[0]
	old.WaitUnits(t, 1, 10*time.Second) // the first publisher delivers units

	testenv.PublishSource(t, live, "flv", e.url("live/test"))
	// The old session ends as soon as the new publisher is authorized, before
	// the new one has sent its first seconds of media.
	old.WaitClosed(t, 5*time.Second)
	if err := waitExit(t, first, 10*time.Second); err == nil {
		t.Error("the replaced ffmpeg exited cleanly, want a write error after its connection was closed")
	}
	cur := e.rec.WaitStreams(t, 2, 30*time.Second)[1]
	cur.WaitUnits(t, 31, 10*time.Second) // the new publisher delivers units
	if !e.hub.Live("test") || cur.Closed() {
		t.Fatal("the new publisher is not live")
	}
}

func TestPlayRefused(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{})
	p := testenv.Publish(t, "-hide_banner", "-loglevel", "warning", "-nostdin",
		"-i", e.url("live/test"), "-t", "1", "-f", "null", "-")
	if err := waitExit(t, p, 20*time.Second); err == nil {
		t.Fatalf("ffmpeg could play from an ingest-only server\n%s", p.Output())
	}
	if !strings.Contains(p.Output(), "only accepts publishers") {
		t.Errorf("ffmpeg does not say why play failed:\n%s", p.Output())
	}
}

// TestSilentPublisherDropped: a client that publishes and then sends nothing
// must lose the stream name after ReadTimeout, or the encoder's reconnect
// would be refused as busy.
func TestSilentPublisherDropped(t *testing.T) {
	e := newEnv(t, ingest.HubConfig{}, func(c *Config) { c.ReadTimeout = 500 * time.Millisecond })
	u, err := url.Parse(e.url("live/test"))
	if err != nil {
		t.Fatal(err)
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer c.Close()
	if !e.hub.Live("test") {
		t.Fatal("publisher not registered after publish was accepted")
	}
	start := time.Now()
	testenv.Eventually(t, 5*time.Second, "silent publisher dropped", func() bool { return !e.hub.Live("test") })
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("dropped after %v, want about the 500ms ReadTimeout", d)
	}
	_ = c.NetConn().SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(); err == nil || isTimeout(err) {
		t.Errorf("connection still open after the drop (read: %v)", err)
	}
	if n := e.rec.NumStreams(); n != 0 {
		t.Errorf("handler saw %d streams from a publisher that sent no media", n)
	}
}

// TestCloseEndsSessions: Close must end live sessions (so sinks flush) and
// return only once the connection goroutines are gone.
func TestCloseEndsSessions(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{})
	p := testenv.PublishSource(t, live, "flv", e.url("live/test"))
	st := e.rec.WaitStreams(t, 1, 30*time.Second)[0]
	st.WaitUnits(t, 1, 10*time.Second) // the publisher delivers units

	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if !st.Closed() || e.hub.Live("test") {
		t.Fatal("Close returned with the session still open")
	}
	_ = waitExit(t, p, 10*time.Second)
}
