package upstream_test

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestProberFlipsHealth(t *testing.T) {
	a, b := &origin{name: "a"}, &origin{name: "b"}
	as, bs := serve(t, a), serve(t, b)
	reg := prometheus.NewRegistry()
	cfg := quiet(t, as.URL, bs.URL)
	cfg.HealthInterval = 20 * time.Millisecond
	cfg.HealthTimeout = 500 * time.Millisecond
	cfg.Registerer = reg
	start := time.Now()
	o := newOrigins(t, cfg)

	waitFor(t, "first probes", func() bool { return a.probes.Load() > 0 && b.probes.Load() > 0 })
	if !o.Healthy() {
		t.Fatalf("not healthy with both origins up: %+v", o.Status())
	}

	a.sick.Store(true)
	b.sick.Store(true)
	waitFor(t, "both origins unhealthy", func() bool { return !o.Healthy() })
	for _, st := range o.Status() {
		if st.Healthy || !strings.Contains(st.LastError, "503") || st.LastChange.Before(start) {
			t.Fatalf("status of a failing origin: %+v", st)
		}
	}
	if n := metric(t, reg, "livecdn_edge_upstream_healthy", map[string]string{"origin": as.URL}); n != 0 {
		t.Fatalf("healthy gauge = %v, want 0", n)
	}

	b.sick.Store(false)
	waitFor(t, "b healthy again", func() bool { return o.Healthy() })
	st := o.Status()
	if st[0].Healthy || !st[1].Healthy || st[1].URL != bs.URL {
		t.Fatalf("status: %+v", st)
	}
	if n := metric(t, reg, "livecdn_edge_upstream_healthy", map[string]string{"origin": bs.URL}); n != 1 {
		t.Fatalf("healthy gauge = %v, want 1", n)
	}
}

func TestPrimaryComesBack(t *testing.T) {
	primary, backup := &origin{name: "primary"}, &origin{name: "backup"}
	primaryURL := deadURL(t)
	addr := strings.TrimPrefix(primaryURL, "http://")
	stop := serveAt(t, addr, primary)
	bs := serve(t, backup)
	cfg := quiet(t, primaryURL, bs.URL)
	cfg.HealthInterval = 20 * time.Millisecond
	o := newOrigins(t, cfg)

	if _, body, err := get(t, o, "/1"); err != nil || body != "primary" {
		t.Fatalf("got %q %v, want primary", body, err)
	}
	stop()
	if _, body, err := get(t, o, "/2"); err != nil || body != "backup" {
		t.Fatalf("got %q %v, want backup while the primary is down", body, err)
	}
	waitFor(t, "primary unhealthy", func() bool { return !o.Status()[0].Healthy })

	serveAt(t, addr, primary)
	waitFor(t, "primary healthy again", func() bool { return o.Status()[0].Healthy })
	if _, body, err := get(t, o, "/3"); err != nil || body != "primary" {
		t.Fatalf("got %q %v, want the recovered primary preferred again", body, err)
	}
}

func TestCloseStopsProber(t *testing.T) {
	a := &origin{name: "a"}
	s := httptest.NewServer(a)
	defer s.Close()
	before := runtime.NumGoroutine()

	cfg := quiet(t, s.URL, deadURL(t))
	cfg.HealthInterval = 10 * time.Millisecond
	o := newOrigins(t, cfg)
	for range 3 {
		if _, _, err := get(t, o, "/x"); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "a few probe rounds", func() bool { return a.probes.Load() >= 3 })
	o.Close()

	// The prober, the transport's connections and the server's side of them
	// all go away.
	waitFor(t, "goroutines back to the count before NewOrigins", func() bool {
		return runtime.NumGoroutine() <= before
	})
	n := a.probes.Load()
	time.Sleep(5 * cfg.HealthInterval) // probing would have gone on by now
	if a.probes.Load() != n {
		t.Fatalf("probes continued after Close: %d -> %d", n, a.probes.Load())
	}
	o.Close() // idempotent
}
