package upstream

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OriginStatus is one origin's health as the edge reports it (e.g. on a
// status page or in /readyz details).
type OriginStatus struct {
	// URL is the origin's base URL as configured (without trailing slash).
	URL string
	// Healthy says whether the last probe or fetch succeeded.
	Healthy bool
	// LastError is the most recent failure, kept after a recovery for
	// diagnosis; empty if the origin never failed.
	LastError string
	// LastChange is when Healthy last flipped (or when the list was built).
	LastChange time.Time
}

// origin is one entry of the list and its health state.
type origin struct {
	url   string
	gauge prometheus.Gauge

	mu         sync.Mutex
	healthy    bool
	lastErr    string
	lastChange time.Time
}

func newOrigin(url string, m *metrics) *origin {
	org := &origin{url: url, gauge: m.healthy.WithLabelValues(url), healthy: true, lastChange: time.Now()}
	org.gauge.Set(1)
	return org
}

// fail marks the origin unhealthy at once, so the next fetch asks a healthy
// origin first instead of waiting for the prober.
func (org *origin) fail(log *slog.Logger, err error) {
	org.mu.Lock()
	changed := org.healthy
	org.healthy, org.lastErr = false, err.Error()
	if changed {
		org.lastChange = time.Now()
		org.gauge.Set(0)
	}
	org.mu.Unlock()
	if changed {
		log.Warn("origin unhealthy", "origin", org.url, "err", err)
	}
}

// succeed marks the origin healthy again.
func (org *origin) succeed(log *slog.Logger) {
	org.mu.Lock()
	changed := !org.healthy
	org.healthy = true
	if changed {
		org.lastChange = time.Now()
		org.gauge.Set(1)
	}
	org.mu.Unlock()
	if changed {
		log.Info("origin healthy", "origin", org.url)
	}
}

func (org *origin) status() OriginStatus {
	org.mu.Lock()
	defer org.mu.Unlock()
	return OriginStatus{URL: org.url, Healthy: org.healthy, LastError: org.lastErr, LastChange: org.lastChange}
}

// order returns the origins to try: healthy ones in configured order, then
// the unhealthy ones in configured order (a stale verdict must not make the
// list refuse to try an origin that may be back).
func (o *Origins) order() []*origin {
	list := make([]*origin, 0, len(o.origins))
	var sick []*origin
	for _, org := range o.origins {
		org.mu.Lock()
		ok := org.healthy
		org.mu.Unlock()
		if ok {
			list = append(list, org)
		} else {
			sick = append(sick, org)
		}
	}
	return append(list, sick...)
}

// Healthy reports whether at least one origin is healthy; the edge's
// /readyz answers from it.
func (o *Origins) Healthy() bool {
	for _, org := range o.origins {
		if org.status().Healthy {
			return true
		}
	}
	return false
}

// Status returns every origin's health, in configured order.
func (o *Origins) Status() []OriginStatus {
	out := make([]OriginStatus, len(o.origins))
	for i, org := range o.origins {
		out[i] = org.status()
	}
	return out
}

// probeLoop probes every origin at once, then every HealthInterval, until
// ctx ends. A round waits for all its probes, so rounds never overlap.
func (o *Origins) probeLoop(ctx context.Context) {
	defer close(o.done)
	t := time.NewTicker(o.cfg.HealthInterval)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, org := range o.origins {
			wg.Go(func() { o.probe(ctx, org) })
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe asks one origin's HealthPath; an answer below 500 means healthy.
func (o *Origins) probe(stop context.Context, org *origin) {
	ctx, cancel := context.WithTimeout(stop, o.cfg.HealthTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, org.url+o.cfg.HealthPath, nil)
	if err != nil {
		org.fail(o.log, err)
		return
	}
	resp, err := o.rt.RoundTrip(req)
	if err == nil {
		// Read the (small) body so the connection is reused: the probe then
		// keeps a warm connection to each origin.
		_, err = io.CopyN(io.Discard, resp.Body, 64<<10)
		if err == io.EOF {
			err = nil
		}
		resp.Body.Close()
		if err == nil && resp.StatusCode >= 500 {
			err = fmt.Errorf("health check: status %d", resp.StatusCode)
		}
	}
	if err != nil && stop.Err() != nil {
		return // Close interrupted the probe: no verdict
	}
	if err != nil {
		org.fail(o.log, fmt.Errorf("%s%s: %w", org.url, o.cfg.HealthPath, err))
		return
	}
	org.succeed(o.log)
}
