package ingest

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	publishers *prometheus.GaugeVec
	rejected   *prometheus.CounterVec
	bytes      *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		publishers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livecdn_ingest_publishers", Help: "Live publish sessions by protocol.",
		}, []string{"protocol"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_ingest_rejected_total", Help: "Publish attempts refused, by protocol and reason.",
		}, []string{"protocol", "reason"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_ingest_bytes_total", Help: "Access-unit payload bytes received, by protocol.",
		}, []string{"protocol"}),
	}
	if reg != nil {
		reg.MustRegister(m.publishers, m.rejected, m.bytes)
	}
	return m
}
