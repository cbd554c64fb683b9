package route

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	fetches *prometheus.CounterVec
	latency *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "livecdn_cluster_peer_fetches_total",
			Help: "Misses sent to a peer edge, a shield or the origin, by result (ok, error, fallback: the next candidate was tried)."},
			[]string{"tier", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "livecdn_cluster_peer_fetch_seconds",
			Help:    "Time to response headers from a peer edge or a shield.",
			Buckets: []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .2, .5, 1, 2, 5}}, []string{"tier"}),
	}
	if reg != nil {
		reg.MustRegister(m.fetches, m.latency)
	}
	return m
}
