package scenario

import (
	"context"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// EdgeCounters are the edge metrics a report plots, summed over edges.
type EdgeCounters struct {
	// Requests and Hits are viewer requests answered, and those answered
	// without an upstream request of their own: from cache (HIT, STALE) or
	// from one shared fetch or LL-HLS follower (COALESCED, which is how the
	// edge labels held blocking reloads).
	Requests, Hits float64
	// OriginFetches counts upstream requests: fetches of any reason plus
	// the LL-HLS followers' playlist requests.
	OriginFetches float64
	// Scraped is how many /metrics answered.
	Scraped int
}

// scrape reads the counters of every URL's /metrics. With origin set, the
// origin fetches are the requests the origin itself counted (exact in a
// cluster, where edges also fetch from each other).
func scrape(ctx context.Context, bases []string, origin string) EdgeCounters {
	var c EdgeCounters
	if origin != "" {
		bases = append(bases, origin)
	}
	for _, b := range bases {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b+"/metrics", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		cancel()
		if err != nil {
			continue
		}
		if b == origin {
			c.OriginFetches = sum(fams["livecdn_origin_http_requests_total"], "", "")
			continue
		}
		c.Scraped++
		c.Requests += sum(fams["livecdn_edge_requests_total"], "", "")
		for _, v := range []string{"HIT", "COALESCED", "STALE"} {
			c.Hits += sum(fams["livecdn_edge_requests_total"], "cache", v)
		}
		if origin == "" {
			c.OriginFetches += sum(fams["livecdn_edge_fetches_total"], "", "") +
				sum(fams["livecdn_edge_follow_upstream_requests_total"], "", "")
		}
	}
	return c
}

// sum adds a counter family's values, only those with label=value when label is set.
func sum(f *dto.MetricFamily, label, value string) float64 {
	if f == nil {
		return 0
	}
	var s float64
	for _, m := range f.GetMetric() {
		if label != "" {
			ok := false
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					ok = true
				}
			}
			if !ok {
				continue
			}
		}
		if c := m.GetCounter(); c != nil {
			s += c.GetValue()
		} else if g := m.GetGauge(); g != nil {
			s += g.GetValue()
		}
	}
	return s
}
