package origin

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	partReady prometheus.Histogram
	parts     *prometheus.CounterVec
	requests  *prometheus.CounterVec
	blocking  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "livecdn_origin_part_ready_seconds",
		Help:    "Time from receiving the unit that completes a part to the part being servable.",
		Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .02, .05, .1, .25},
	})
	m := &metrics{
		partReady: h,
		parts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_origin_parts_total", Help: "CMAF parts packaged, by rendition name.",
		}, []string{"rendition"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_origin_http_requests_total", Help: "HTTP requests by object kind and status code.",
		}, []string{"kind", "code"}),
		blocking: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecdn_origin_blocking_requests", Help: "Blocking playlist and early part requests being held.",
		}),
	}
	if reg != nil {
		reg.MustRegister(h, m.parts, m.requests, m.blocking)
	}
	return m
}
