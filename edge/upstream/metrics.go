package upstream

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Values of the result label of livecdn_edge_upstream_requests_total.
const (
	resultOK       = "ok"       // 1xx-3xx
	result4xx      = "4xx"      // a valid answer, returned as is
	result5xx      = "5xx"      // failed over
	resultError    = "error"    // connect error or timeout before headers
	resultCanceled = "canceled" // the caller gave up; says nothing about the origin
)

type metrics struct {
	requests *prometheus.CounterVec
	healthy  *prometheus.GaugeVec
	fetch    *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_edge_upstream_requests_total",
			Help: "Requests to each origin by result: ok, 4xx, 5xx, error (connect or header timeout), canceled (by the caller).",
		}, []string{"origin", "result"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_edge_upstream_healthy",
			Help: "1 if the origin is considered healthy (last probe or fetch succeeded), else 0.",
		}, []string{"origin"}),
		fetch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "livecdn_edge_upstream_fetch_seconds",
			Help: "Time from sending a request to an origin to its response headers (blocking playlist reloads included).",
			// Up to the 10s default header timeout: blocking reloads sit in the top buckets.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"origin"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.healthy, err = register(reg, m.healthy); err != nil {
		return nil, err
	}
	if m.fetch, err = register(reg, m.fetch); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the identical collector registered
// before, so several origin lists can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, fmt.Errorf("register upstream metrics: %w", err)
}
