package edge_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/upstream"
)

// startEdge runs an in-process edge on a free loopback port in front of origins.
func startEdge(t testing.TB, mutate func(*edge.Config), origins ...string) (*edge.Server, string, *upstream.Origins) {
	t.Helper()
	reg := prometheus.NewRegistry()
	ocfg := upstream.DefaultOriginsConfig()
	ocfg.URLs, ocfg.Registerer = origins, reg
	ocfg.HealthInterval = 200 * time.Millisecond
	up, err := upstream.NewOrigins(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Close() })
	cfg := edge.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.CacheSize = 256 << 20
	cfg.Upstream, cfg.Ready = up, up.Healthy
	cfg.Registerer, cfg.Gatherer = reg, reg
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, "http://" + s.Addr().String(), up
}

// client has room for many concurrent connections to one host.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2000, MaxConnsPerHost: 0, DisableCompression: true},
	Timeout: 60 * time.Second}

func fetch(t testing.TB, url string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, b
}
