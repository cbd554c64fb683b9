package opscli

import (
	"bytes"
	"strings"
	"testing"
)

// The example of the cluster contract (GET /cluster).
const contractCluster = `{"self":"n1","members":[
 {"name":"n1","gossip":"10.0.0.5:7946","http":"http://10.0.0.5:8081","role":"edge","zone":"","weight":1,"state":"active","share":0.333},
 {"name":"s1","gossip":"10.0.0.9:7946","http":"http://10.0.0.9:8081","role":"shield","zone":"a","weight":2,"state":"draining","share":0}]}`

func TestParseCluster(t *testing.T) {
	cl, err := ParseCluster([]byte(contractCluster))
	if err != nil {
		t.Fatal(err)
	}
	if cl.Self != "n1" || len(cl.Members) != 2 {
		t.Fatalf("%+v", cl)
	}
	m := cl.Members[0]
	if m.Name != "n1" || m.Gossip != "10.0.0.5:7946" || m.HTTP != "http://10.0.0.5:8081" || m.Role != "edge" ||
		m.Weight != 1 || m.State != "active" || m.Share != 0.333 {
		t.Errorf("member 0: %+v", m)
	}
	for _, bad := range []string{``, `[]`, `{"members":[{"role":"edge"}]}`, `{"members":"x"}`} {
		if _, err := ParseCluster([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

const metricsPage = `# HELP livecdn_edge_requests_total Viewer requests by status code and cache result.
# TYPE livecdn_edge_requests_total counter
livecdn_edge_requests_total{cache="HIT",code="200"} 70
livecdn_edge_requests_total{cache="COALESCED",code="200"} 10
livecdn_edge_requests_total{cache="STALE",code="200"} 5
livecdn_edge_requests_total{cache="MISS",code="200"} 15
# TYPE livecdn_edge_held_requests gauge
livecdn_edge_held_requests 42
# TYPE livecdn_edge_bytes_out_total counter
livecdn_edge_bytes_out_total 1.5e+09
# TYPE livecdn_cluster_members gauge
livecdn_cluster_members{role="edge",state="active"} 3
livecdn_cluster_members{role="shield",state="active"} 1
livecdn_cluster_members{role="edge",state="draining"} 1
`

func TestParseStats(t *testing.T) {
	st, err := ParseStats(strings.NewReader(metricsPage))
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 100 || st.Hits != 85 || st.HitRatio != 0.85 || st.Viewers != 42 || st.BytesOut != 1.5e9 {
		t.Errorf("%+v", st)
	}
	if st.Members["active"] != 4 || st.Members["draining"] != 1 {
		t.Errorf("members %v", st.Members)
	}
	st, err = ParseStats(strings.NewReader("# TYPE go_goroutines gauge\ngo_goroutines 7\n"))
	if err != nil || st.HitRatio != -1 || st.Requests != 0 {
		t.Errorf("no traffic: %+v, %v", st, err)
	}
	if _, err := ParseStats(strings.NewReader("livecdn_edge_requests_total{ 1\n")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestWriteText(t *testing.T) {
	cl, _ := ParseCluster([]byte(contractCluster))
	st, _ := ParseStats(strings.NewReader(metricsPage))
	rep := &Report{Seen: "http://10.0.0.5:8081", Self: cl.Self, Nodes: []Node{{Member: cl.Members[1]}, {Member: cl.Members[0], Stats: st}}}
	rep.Nodes[0].Err = "connection refused"
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"cluster as seen by n1 (http://10.0.0.5:8081): 2 members, 1 active", "NAME", "SHARE",
		"33.3%", "85.0%", "1.4 GiB", "draining", "unreachable", "s1: connection refused", "TOTAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1.5 * (1 << 30): "1.5 GiB"} {
		if got := Bytes(in); got != want {
			t.Errorf("Bytes(%v) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseCluster(f *testing.F) {
	f.Add([]byte(contractCluster))
	f.Add([]byte(`{"self":"","members":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		cl, err := ParseCluster(b)
		if err != nil {
			return
		}
		for _, m := range cl.Members {
			if m.Name == "" {
				t.Fatal("member without a name accepted")
			}
		}
		rep := &Report{Self: cl.Self}
		for _, m := range cl.Members {
			rep.Nodes = append(rep.Nodes, Node{Member: m})
		}
		_ = rep.WriteText(&bytes.Buffer{})
	})
}

func FuzzParseStats(f *testing.F) {
	f.Add(metricsPage)
	f.Add("")
	f.Fuzz(func(t *testing.T, page string) {
		st, err := ParseStats(strings.NewReader(page))
		if err != nil {
			return
		}
		if st.Requests > 0 && st.Hits >= 0 && st.Hits <= st.Requests && (st.HitRatio < 0 || st.HitRatio > 1) {
			t.Fatalf("hit ratio %v of %v/%v", st.HitRatio, st.Hits, st.Requests)
		}
	})
}
