package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/edge/upstream"
)

func TestPrimaryAnswers(t *testing.T) {
	primary := &origin{name: "primary", handler: func(w http.ResponseWriter, r *http.Request) {
		// Echo what arrived, so the test sees path, query and headers.
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("X-Origin", "primary")
		io.WriteString(w, r.URL.RequestURI()+"|"+r.Header.Get("CMCD-Request")+"|"+r.Header.Get("Accept-Encoding"))
	}}
	backup := &origin{name: "backup"}
	ps, bs := serve(t, primary), serve(t, backup)
	o := newOrigins(t, quiet(t, ps.URL+"/prefix/", bs.URL))

	req := &upstream.Request{
		Path:   "/live/s/720p/index.m3u8",
		Query:  "_HLS_msn=12&_HLS_part=3",
		Header: http.Header{"Cmcd-Request": {"nor=\"seg13.m4s\""}},
	}
	resp, err := o.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want := "/prefix/live/s/720p/index.m3u8?_HLS_msn=12&_HLS_part=3|nor=\"seg13.m4s\"|"
	if resp.Status != 200 || string(b) != want {
		t.Fatalf("got %d %q, want 200 %q", resp.Status, b, want)
	}
	// Bytes pass through: no Accept-Encoding added, Content-Encoding kept.
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("X-Origin") != "primary" {
		t.Fatalf("headers not passed through: %v", resp.Header)
	}
	if backup.hits.Load() != 0 {
		t.Fatalf("backup asked %d times while the primary answered", backup.hits.Load())
	}
}

func TestFailover(t *testing.T) {
	for _, tc := range []struct {
		name    string
		primary func(t *testing.T) string // returns the primary's URL
		within  time.Duration
		cause   error
		result  string
	}{
		{
			name:    "connection refused",
			primary: deadURL,
			within:  upstream.DefaultOriginsConfig().ConnectTimeout,
			result:  "error",
		},
		{
			name: "503",
			primary: func(t *testing.T) string {
				return serve(t, &origin{handler: func(w http.ResponseWriter, r *http.Request) {
					http.Error(w, "overloaded", http.StatusServiceUnavailable)
				}}).URL
			},
			within: time.Second,
			cause:  &upstream.StatusError{},
			result: "5xx",
		},
		{
			name: "hangs before headers",
			primary: func(t *testing.T) string {
				return serve(t, &origin{handler: func(w http.ResponseWriter, r *http.Request) {
					<-r.Context().Done() // the edge gives up and closes the connection
				}}).URL
			},
			within: 200*time.Millisecond + time.Second,
			cause:  upstream.ErrHeaderTimeout,
			result: "error",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backup := &origin{name: "backup"}
			bs := serve(t, backup)
			primaryURL := tc.primary(t)
			reg := prometheus.NewRegistry()
			cfg := quiet(t, primaryURL, bs.URL)
			cfg.ResponseHeaderTimeout = 200 * time.Millisecond
			cfg.Registerer = reg
			o := newOrigins(t, cfg)

			start := time.Now()
			status, body, err := get(t, o, "/live/s/seg1.m4s")
			took := time.Since(start)
			if err != nil || status != 200 || body != "backup" {
				t.Fatalf("got %d %q %v, want the backup's answer", status, body, err)
			}
			if took > tc.within {
				t.Fatalf("failover took %v, want under %v", took, tc.within)
			}
			st := o.Status()
			if st[0].Healthy || st[0].LastError == "" || !st[1].Healthy {
				t.Fatalf("status after failover: %+v", st)
			}
			if tc.cause == upstream.ErrHeaderTimeout && !strings.Contains(st[0].LastError, upstream.ErrHeaderTimeout.Error()) {
				t.Fatalf("last error %q does not name the header timeout", st[0].LastError)
			}
			if n := metric(t, reg, "livecdn_edge_upstream_requests_total", map[string]string{"origin": primaryURL, "result": tc.result}); n != 1 {
				t.Fatalf("primary %s requests = %v, want 1", tc.result, n)
			}
			if n := metric(t, reg, "livecdn_edge_upstream_healthy", map[string]string{"origin": primaryURL}); n != 0 {
				t.Fatalf("primary healthy gauge = %v, want 0", n)
			}

			// The primary is now known bad: the next fetch asks the backup
			// first and does not wait for the primary again.
			start = time.Now()
			if _, body, err := get(t, o, "/live/s/seg2.m4s"); err != nil || body != "backup" {
				t.Fatalf("second fetch: %q %v", body, err)
			}
			if took := time.Since(start); took > 150*time.Millisecond {
				t.Fatalf("second fetch took %v: the unhealthy primary was tried first", took)
			}
		})
	}
}

func TestNotFoundIsAnAnswer(t *testing.T) {
	primary := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=0")
		http.Error(w, "no such part", http.StatusNotFound)
	}}
	backup := &origin{name: "backup"}
	o := newOrigins(t, quiet(t, serve(t, primary).URL, serve(t, backup).URL))

	status, body, err := get(t, o, "/live/s/720p/part99.m4s")
	if err != nil || status != http.StatusNotFound || !strings.Contains(body, "no such part") {
		t.Fatalf("got %d %q %v, want the primary's 404", status, body, err)
	}
	if backup.hits.Load() != 0 {
		t.Fatal("a 404 was failed over to the backup")
	}
	if !o.Status()[0].Healthy {
		t.Fatal("a 404 marked the primary unhealthy")
	}
}

func TestAllDown(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		o := newOrigins(t, quiet(t, deadURL(t), deadURL(t)))
		start := time.Now()
		_, _, err := get(t, o, "/live/s/seg1.m4s")
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Fatalf("took %v to give up on refused connections", took)
		}
		ue, ok := isUnavailable(err)
		if !ok || ue.Status != 0 || ue.Tried != 2 {
			t.Fatalf("got %v (%+v), want ErrUnavailable with no status after 2 tries", err, ue)
		}
		if o.Healthy() {
			t.Fatal("Healthy() with every origin down")
		}
	})
	t.Run("5xx everywhere", func(t *testing.T) {
		code := func(c int) *origin {
			return &origin{handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(c) }}
		}
		o := newOrigins(t, quiet(t, serve(t, code(502)).URL, serve(t, code(503)).URL))
		_, _, err := get(t, o, "/live/s/index.m3u8")
		ue, ok := isUnavailable(err)
		var se *upstream.StatusError
		if !ok || ue.Status != 503 || !errors.As(err, &se) || se.Status != 503 {
			t.Fatalf("got %v, want ErrUnavailable carrying the last status 503", err)
		}
	})
}

func TestUnhealthyTriedLast(t *testing.T) {
	// The primary serves content but fails its health check; the backup is fine.
	primary, backup := &origin{name: "primary"}, &origin{name: "backup"}
	primary.sick.Store(true)
	ps, bs := serve(t, primary), serve(t, backup)
	cfg := quiet(t, ps.URL, bs.URL)
	cfg.HealthInterval = 20 * time.Millisecond
	o := newOrigins(t, cfg)
	waitFor(t, "primary marked unhealthy by the prober", func() bool { return !o.Status()[0].Healthy })

	if _, body, err := get(t, o, "/a"); err != nil || body != "backup" {
		t.Fatalf("got %q %v, want the healthy backup first", body, err)
	}
	// With the backup gone too, the unhealthy primary is the last resort.
	bs.Close()
	if _, body, err := get(t, o, "/b"); err != nil || body != "primary" {
		t.Fatalf("got %q %v, want the unhealthy primary as a last resort", body, err)
	}
}

func TestCallerCancels(t *testing.T) {
	hang := &origin{handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }}
	backup := &origin{name: "backup"}
	o := newOrigins(t, quiet(t, serve(t, hang).URL, serve(t, backup).URL))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := o.Fetch(ctx, &upstream.Request{Path: "/live/s/index.m3u8", Query: "_HLS_msn=5"})
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, upstream.ErrUnavailable) {
		t.Fatalf("got %v, want the caller's deadline, not ErrUnavailable", err)
	}
	if backup.hits.Load() != 0 || !o.Status()[0].Healthy {
		t.Fatalf("the caller's cancel was blamed on the origin: backup hits %d, status %+v", backup.hits.Load(), o.Status())
	}
}

func TestBodyStreams(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan struct{})
	primary := &origin{handler: func(w http.ResponseWriter, r *http.Request) {
		defer close(finished)
		io.WriteString(w, "moof1")
		w.(http.Flusher).Flush()
		select { // the next chunk is "still being encoded"
		case <-release:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "moof2")
	}}
	o := newOrigins(t, quiet(t, serve(t, primary).URL))

	resp, err := o.Fetch(context.Background(), &upstream.Request{Path: "/live/s/720p/seg9.m4s"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "moof1" {
		t.Fatalf("first chunk: %q %v", buf, err)
	}
	select {
	case <-finished:
		t.Fatal("handler finished before the first bytes were read")
	default:
	}
	close(release)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "moof2" {
		t.Fatalf("rest: %q %v", rest, err)
	}
}

func TestNewOriginsRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  upstream.OriginsConfig
	}{
		{"no URL", upstream.OriginsConfig{}},
		{"bad scheme", upstream.OriginsConfig{URLs: []string{"ftp://a:21"}}},
		{"no host", upstream.OriginsConfig{URLs: []string{"http://"}}},
		{"query", upstream.OriginsConfig{URLs: []string{"http://a:8080/?x=1"}}},
		{"duplicate", upstream.OriginsConfig{URLs: []string{"http://a:8080", "http://a:8080/"}}},
		{"health path", upstream.OriginsConfig{URLs: []string{"http://a:8080"}, HealthPath: "healthz"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if o, err := upstream.NewOrigins(tc.cfg); err == nil {
				o.Close()
				t.Fatal("accepted")
			}
		})
	}
}

func TestSharedRegistry(t *testing.T) {
	// Several edges in one process (livecdn demo) may share a registry.
	reg := prometheus.NewRegistry()
	s := serve(t, &origin{name: "o"})
	for range 2 {
		cfg := quiet(t, s.URL)
		cfg.Registerer = reg
		o := newOrigins(t, cfg)
		if _, _, err := get(t, o, "/x"); err != nil {
			t.Fatal(err)
		}
	}
	if n := metric(t, reg, "livecdn_edge_upstream_requests_total", map[string]string{"origin": s.URL, "result": "ok"}); n != 2 {
		t.Fatalf("ok requests = %v, want 2", n)
	}
	if n := metric(t, reg, "livecdn_edge_upstream_fetch_seconds", map[string]string{"origin": s.URL}); n != 2 {
		t.Fatalf("fetch_seconds samples = %v, want 2", n)
	}
}

// A 503 to a blocking playlist reload is the LL-HLS "not yet" answer: it is
// returned as is, without failing over or marking the origin unhealthy.
func TestBlockingReload503IsAnAnswer(t *testing.T) {
	var backupHits atomic.Int32
	primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer primary.Close()
	backup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { backupHits.Add(1) }))
	defer backup.Close()
	cfg := upstream.DefaultOriginsConfig()
	cfg.URLs, cfg.HealthInterval = []string{primary.URL, backup.URL}, -1
	o, err := upstream.NewOrigins(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	resp, err := o.Fetch(context.Background(), &upstream.Request{Path: "/live/s/v/index.m3u8", Query: "_HLS_msn=5&_HLS_part=1"})
	if err != nil || resp.Status != http.StatusServiceUnavailable {
		t.Fatalf("blocking 503: %v %v", resp, err)
	}
	resp.Body.Close()
	if backupHits.Load() != 0 || !o.Status()[0].Healthy {
		t.Errorf("a blocking-reload 503 failed over (%d) or marked the primary unhealthy", backupHits.Load())
	}
}
