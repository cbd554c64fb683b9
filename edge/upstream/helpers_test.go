package upstream_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livecdn/livecdn/edge/upstream"
	"github.com/livecdn/livecdn/internal/testenv"
)

// waitFor polls cond (the prober works in the background) for up to 5s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, what, cond)
}

// origin is a test origin: it answers content paths with its name and
// counts what it served; /healthz answers 503 while sick is set.
type origin struct {
	name    string
	hits    atomic.Int64 // content requests
	probes  atomic.Int64 // health probes
	sick    atomic.Bool
	handler http.HandlerFunc // optional, for content paths
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		o.probes.Add(1)
		if o.sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
		return
	}
	o.hits.Add(1)
	if o.handler != nil {
		o.handler(w, r)
		return
	}
	io.WriteString(w, o.name)
}

// serve starts o on a loopback port for the test's lifetime.
func serve(t *testing.T, o *origin) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(o)
	t.Cleanup(s.Close)
	return s
}

// deadURL returns the URL of a loopback port nobody listens on: connecting
// is refused at once.
func deadURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// serveAt serves h on addr (a port the test owned before) until the
// returned stop is called or the test ends.
func serveAt(t *testing.T, addr string, h http.Handler) (stop func()) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: h}
	go s.Serve(l)
	stop = func() { s.Close() }
	t.Cleanup(stop)
	return stop
}

// quiet is the base config of the tests: probing off unless a test turns it
// on, logs to the test output.
func quiet(t *testing.T, urls ...string) upstream.OriginsConfig {
	cfg := upstream.DefaultOriginsConfig()
	cfg.URLs = urls
	cfg.HealthInterval = -1
	cfg.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return cfg
}

func newOrigins(t *testing.T, cfg upstream.OriginsConfig) *upstream.Origins {
	t.Helper()
	o, err := upstream.NewOrigins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

// get fetches path and reads the whole body.
func get(t *testing.T, u upstream.Upstream, path string) (int, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := u.Fetch(ctx, &upstream.Request{Path: path})
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp.Status, string(b), nil
}

// metric returns a counter or gauge value, or a histogram's sample count,
// from reg; 0 when the series does not exist.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				return m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}

func isUnavailable(err error) (*upstream.UnavailableError, bool) {
	var ue *upstream.UnavailableError
	ok := errors.As(err, &ue) && errors.Is(err, upstream.ErrUnavailable)
	return ue, ok
}
