package cluster

import "github.com/prometheus/client_golang/prometheus"

// metrics exports the membership as this node sees it.
type metrics struct {
	c       *Cluster
	members *prometheus.Desc
	health  *prometheus.Desc
}

func newMetrics(reg prometheus.Registerer, c *Cluster) *metrics {
	m := &metrics{c: c,
		members: prometheus.NewDesc("livecdn_cluster_members", "Cluster members this node sees, by role and state.", []string{"role", "state"}, nil),
		health: prometheus.NewDesc("livecdn_cluster_health_score",
			"memberlist's awareness score: 0 is healthy; higher means this node misses probes (overloaded or partitioned).", nil, nil),
	}
	if reg != nil {
		reg.MustRegister(m)
	}
	return m
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.members
	ch <- m.health
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	counts := map[[2]string]int{}
	for _, role := range []string{RoleEdge, RoleShield} {
		for _, st := range []string{StateActive, StateDraining} {
			counts[[2]string{role, st}] = 0
		}
	}
	for _, mb := range m.c.Members() {
		counts[[2]string{mb.Role, mb.State}]++
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(m.members, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(m.health, prometheus.GaugeValue, float64(m.c.ml.GetHealthScore()))
}
