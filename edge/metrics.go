package edge

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/edge/cache"
)

type metrics struct {
	requests     *prometheus.CounterVec
	bytesOut     prometheus.Counter
	fetches      *prometheus.CounterVec
	coalesced    prometheus.Counter
	held         prometheus.Gauge
	latency      *prometheus.HistogramVec
	evictions    prometheus.Counter
	prefetchHits prometheus.Counter
	wasted       prometheus.Counter

	// The children hits use, looked up once instead of by label per request.
	ok200    map[string]prometheus.Counter  // code 200 by cache result
	observer map[string]prometheus.Observer // latency by cache result
}

// observe counts a response and its time to headers.
func (m *metrics) observe(code int, result string, d time.Duration) {
	c, ok := m.ok200[result]
	if code != 200 || !ok {
		c = m.requests.WithLabelValues(strconv.Itoa(code), result)
	}
	c.Inc()
	o, ok := m.observer[result]
	if !ok {
		o = m.latency.WithLabelValues(result)
	}
	o.Observe(d.Seconds())
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_edge_requests_total", Help: "Viewer requests by status code and cache result.",
		}, []string{"code", "cache"}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_bytes_out_total", Help: "Body bytes sent to viewers.",
		}),
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_edge_fetches_total", Help: "Upstream fetches started, by reason (miss, prefetch, revalidate).",
		}, []string{"reason"}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_coalesced_total", Help: "Viewer requests that joined a fetch already in flight.",
		}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecdn_edge_held_requests", Help: "Blocking LL-HLS playlist requests held at the edge right now.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "livecdn_edge_response_seconds", Help: "Time to the response headers, by cache result.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"cache"}),
		evictions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_cache_evictions_total", Help: "Objects evicted from the cache.",
		}),
		prefetchHits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_prefetch_hits_total", Help: "Prefetched objects later asked for by a viewer.",
		}),
		wasted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_prefetch_wasted_total", Help: "Prefetched objects evicted before any viewer asked.",
		}),
	}
	m.ok200, m.observer = map[string]prometheus.Counter{}, map[string]prometheus.Observer{}
	for _, r := range []string{hit, miss, coalesced, stale} {
		m.ok200[r] = m.requests.WithLabelValues("200", r)
		m.observer[r] = m.latency.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	reg.MustRegister(m.requests, m.bytesOut, m.fetches, m.coalesced, m.held, m.latency, m.evictions, m.prefetchHits, m.wasted,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livecdn_edge_cache_bytes", Help: "Bytes held by the cache."},
			func() float64 { return float64(s.cache.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livecdn_edge_cache_objects", Help: "Objects held by the cache."},
			func() float64 { return float64(s.cache.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "livecdn_edge_cache_file_bytes",
			Help: "Bytes of cached bodies held in memory files (sent with sendfile), evicted ones included until collected."},
			func() float64 { return float64(cache.FileBytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livecdn_edge_prefetched_total", Help: "Objects prefetched."},
			func() float64 { return float64(s.prefetch.Stats.Prefetched.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "livecdn_edge_prefetch_dropped_total", Help: "Prefetch offers refused by the bounds."},
			func() float64 { return float64(s.prefetch.Stats.Dropped.Load()) }),
	)
	return m
}
