package opscli

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"sync"
	"text/tabwriter"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// NodeStats are the figures `livecdn status` reads from a node's /metrics.
// Counters are totals since the node started.
type NodeStats struct {
	// Requests is every viewer request answered (livecdn_edge_requests_total).
	Requests float64 `json:"requests"`
	// Hits are requests served without an upstream fetch of their own:
	// X-Cache HIT, COALESCED (joined a fetch in flight) or STALE.
	Hits float64 `json:"hits"`
	// HitRatio is Hits/Requests, or -1 before the first request.
	HitRatio float64 `json:"hit_ratio"`
	// Viewers counts LL-HLS viewers by their one blocking playlist reload
	// held at the edge (livecdn_edge_held_requests); plain HLS and DASH
	// players hold nothing between reloads and are not counted.
	Viewers float64 `json:"viewers"`
	// BytesOut is body bytes sent to viewers.
	BytesOut float64 `json:"bytes_out"`
	// Members is livecdn_cluster_members summed over roles, by state.
	Members map[string]float64 `json:"members,omitempty"`
}

// Node is one row of the status report.
type Node struct {
	Member
	Stats *NodeStats `json:"stats,omitempty"`
	// Err says why Stats are missing (node unreachable, no metrics).
	Err string `json:"error,omitempty"`
}

// Report is what `livecdn status` prints.
type Report struct {
	// Seen is the URL of the node whose /cluster was used.
	Seen string `json:"seen"`
	// Self is that node's name.
	Self string `json:"self"`
	// Standalone is true when no node had /cluster: the rows are the URLs given.
	Standalone bool   `json:"standalone"`
	Nodes      []Node `json:"nodes"`
}

// hitResults are the X-Cache values that made no upstream fetch of their own.
var hitResults = map[string]bool{"HIT": true, "COALESCED": true, "STALE": true}

// ParseStats reads NodeStats from a Prometheus text exposition.
func ParseStats(r io.Reader) (*NodeStats, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	st := &NodeStats{HitRatio: -1}
	if f := fams["livecdn_edge_requests_total"]; f != nil {
		for _, m := range f.GetMetric() {
			v := value(m)
			st.Requests += v
			if hitResults[label(m, "cache")] {
				st.Hits += v
			}
		}
	}
	if st.Requests > 0 {
		st.HitRatio = st.Hits / st.Requests
	}
	st.Viewers = sum(fams["livecdn_edge_held_requests"])
	st.BytesOut = sum(fams["livecdn_edge_bytes_out_total"])
	if f := fams["livecdn_cluster_members"]; f != nil {
		st.Members = map[string]float64{}
		for _, m := range f.GetMetric() {
			st.Members[label(m, "state")] += value(m)
		}
	}
	return st, nil
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return 0
}

func sum(f *dto.MetricFamily) float64 {
	var s float64
	for _, m := range f.GetMetric() {
		s += value(m)
	}
	return s
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Stats fetches and parses base/metrics.
func (c *Client) Stats(ctx context.Context, base string) (*NodeStats, error) {
	body, _, err := c.get(ctx, base, "/metrics")
	if err != nil {
		return nil, err
	}
	return ParseStats(bytes.NewReader(body))
}

// Status builds the report: the member list from the first of edges that
// serves /cluster, then every member's own /metrics, fetched in parallel.
// When none has /cluster (stand-alone edges), the rows are edges themselves.
func (c *Client) Status(ctx context.Context, edges []string) (*Report, error) {
	if len(edges) == 0 {
		return nil, errors.New("no node URL given")
	}
	rep := &Report{}
	var errs []error
	for _, e := range edges {
		cl, err := c.Cluster(ctx, e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e, err))
			continue
		}
		rep.Seen, rep.Self = e, cl.Self
		for _, m := range cl.Members {
			rep.Nodes = append(rep.Nodes, Node{Member: m})
		}
		break
	}
	if rep.Seen == "" {
		for _, err := range errs {
			if !errors.Is(err, ErrNoCluster) {
				return nil, errors.Join(errs...)
			}
		}
		rep.Standalone = true
		for _, e := range edges {
			host := e
			if u, err := url.Parse(e); err == nil && u.Host != "" {
				host = u.Host
			}
			rep.Nodes = append(rep.Nodes, Node{Member: Member{Name: host, HTTP: e, Role: "edge", State: "standalone"}})
		}
	}
	var wg sync.WaitGroup
	for i := range rep.Nodes {
		n := &rep.Nodes[i]
		if n.HTTP == "" {
			n.Err = "member advertises no HTTP URL"
			continue
		}
		wg.Go(func() {
			st, err := c.Stats(ctx, n.HTTP)
			if err != nil {
				n.Err = err.Error()
				return
			}
			n.Stats = st
		})
	}
	wg.Wait()
	slices.SortStableFunc(rep.Nodes, func(a, b Node) int {
		return cmp.Or(cmp.Compare(roleOrder(a.Role), roleOrder(b.Role)), cmp.Compare(a.Name, b.Name))
	})
	return rep, nil
}

func roleOrder(role string) int {
	switch role {
	case "shield":
		return 0
	case "edge":
		return 1
	}
	return 2
}

// WriteText prints the report as an aligned table.
func (r *Report) WriteText(w io.Writer) error {
	active := 0
	for _, n := range r.Nodes {
		if n.State == "active" {
			active++
		}
	}
	if r.Standalone {
		fmt.Fprintf(w, "no /cluster endpoint: %d stand-alone node(s)\n", len(r.Nodes))
	} else {
		fmt.Fprintf(w, "cluster as seen by %s (%s): %d members, %d active\n", r.Self, r.Seen, len(r.Nodes), active)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tSTATE\tZONE\tWEIGHT\tSHARE\tHIT RATIO\tVIEWERS\tREQUESTS\tSENT\tHTTP")
	var views, reqs, hits, sent float64
	for _, n := range r.Nodes {
		zone := n.Zone
		if zone == "" {
			zone = "-"
		}
		share, weight := "-", "-"
		if !r.Standalone {
			share = fmt.Sprintf("%.1f%%", 100*n.Share)
			weight = fmt.Sprintf("%g", n.Weight)
		}
		hit, viewers, requests, out := "-", "-", "-", "-"
		if st := n.Stats; st != nil {
			if st.HitRatio >= 0 {
				hit = fmt.Sprintf("%.1f%%", 100*st.HitRatio)
			}
			viewers, requests, out = fmt.Sprintf("%.0f", st.Viewers), fmt.Sprintf("%.0f", st.Requests), Bytes(st.BytesOut)
			views, reqs, hits, sent = views+st.Viewers, reqs+st.Requests, hits+st.Hits, sent+st.BytesOut
		} else if n.Err != "" {
			hit = "unreachable"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			n.Name, n.Role, n.State, zone, weight, share, hit, viewers, requests, out, n.HTTP)
	}
	total := "-"
	if reqs > 0 {
		total = fmt.Sprintf("%.1f%%", 100*hits/reqs)
	}
	fmt.Fprintf(tw, "TOTAL\t\t\t\t\t\t%s\t%.0f\t%.0f\t%s\t\n", total, views, reqs, Bytes(sent))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Nodes {
		if n.Err != "" {
			fmt.Fprintf(w, "%s: %s\n", n.Name, n.Err)
		}
	}
	return nil
}

// Bytes formats a byte count with a binary unit (e.g. 1.5 GiB).
func Bytes(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTPE"[exp])
}
