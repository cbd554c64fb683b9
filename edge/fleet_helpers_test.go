package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/cluster"
	"github.com/livecdn/livecdn/internal/testenv"
)

// counter is a real reverse proxy in front of a node that counts the
// requests it passes, by path and query: what "fetched once" is checked on.
type counter struct {
	URL string
	mu  sync.Mutex
	n   map[string]int
}

func newCounter(t *testing.T, target string) *counter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	c := &counter{n: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // stream growing parts through as they arrive
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/live/") {
			c.mu.Lock()
			c.n[r.URL.RequestURI()]++
			c.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.URL = "http://" + ln.Addr().String()
	return c
}

// counts returns a copy of the counts.
func (c *counter) counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// node is one livecdn edge or shield process of a test fleet.
type node struct {
	name, http, gossip string
	args               []string
	proc               *testenv.Process
}

// start runs (or re-runs) the node's process and waits until it is ready.
func (n *node) start(t *testing.T) {
	t.Helper()
	n.proc = testenv.Start(t, n.http, n.args...)
}

// newNode prepares a node on its own loopback address 127.0.0.ip.
func newNode(t *testing.T, name string, ip int, originURL string, extra ...string) *node {
	host := fmt.Sprintf("127.0.0.%d", ip)
	n := &node{name: name,
		http:   fmt.Sprintf("%s:%d", host, testenv.FreePort(t)),
		gossip: fmt.Sprintf("%s:%d", host, testenv.FreeTCPUDPPort(t))}
	n.args = append([]string{"edge", "--http", n.http, "--gossip", n.gossip, "--node-name", name, "--origin", originURL,
		"--cache-size", "128MiB"}, extra...)
	return n
}

// clusterStatus reads a node's /cluster.
func clusterStatus(base string) (cluster.Status, error) {
	var st cluster.Status
	resp, err := http.Get(base + "/cluster")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return st, fmt.Errorf("/cluster: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// activeMembers is how many members base sees active (any role).
func activeMembers(base string) int {
	st, err := clusterStatus(base)
	if err != nil {
		return -1
	}
	n := 0
	for _, m := range st.Members {
		if m.State == cluster.StateActive {
			n++
		}
	}
	return n
}

// viewerStats collects what the test viewers saw.
type viewerStats struct {
	mu       sync.Mutex
	requests int
	failures []failure
	latency  []time.Duration // media request latencies
}

type failure struct {
	at   time.Time
	edge string
	what string
}

func (s *viewerStats) ok(d time.Duration, media bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if media {
		s.latency = append(s.latency, d)
	}
}

func (s *viewerStats) fail(edge, what string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.failures = append(s.failures, failure{time.Now(), edge, what})
}

// failuresOn returns the failures on edges other than skip within [from, to).
func (s *viewerStats) failuresOn(skip string, from, to time.Time) []failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []failure
	for _, f := range s.failures {
		if f.edge != skip && !f.at.Before(from) && f.at.Before(to) {
			out = append(out, f)
		}
	}
	return out
}

// llViewer plays a rendition like an LL-HLS client: a blocking reload for
// the next part, then every new part and every new full segment (so the
// test covers both). edges returns the edge to use; when a request fails
// at the connection level the viewer moves to the next edge, as DNS or
// anycast would move a real one.
type llViewer struct {
	edges  []*node
	at     int
	path   string
	client *http.Client
	stats  *viewerStats
	seen   map[string]bool
}

func (v *llViewer) run(ctx context.Context) {
	msn, part := -1, -1
	for ctx.Err() == nil {
		q := ""
		if msn >= 0 {
			q = "?_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part)
		}
		body, ok := v.get(ctx, v.path+q, false)
		if !ok {
			msn, part = -1, -1
			continue
		}
		var m playlist.Media
		if err := m.Unmarshal(body); err != nil {
			v.stats.fail(v.edges[v.at].name, "playlist: "+err.Error())
			continue
		}
		dir := v.path[:strings.LastIndexByte(v.path, '/')+1]
		last := m.MediaSequence + len(m.Segments) // msn of the segment the trailing parts belong to
		for i, s := range m.Segments {
			for _, p := range s.Parts {
				v.media(ctx, dir+p.URI)
			}
			if i >= len(m.Segments)-2 { // the newest segments, like a client joining late
				v.media(ctx, dir+s.URI)
			}
		}
		for _, p := range m.Parts {
			v.media(ctx, dir+p.URI)
		}
		msn, part = last, len(m.Parts)
	}
}

// media fetches an object once per viewer.
func (v *llViewer) media(ctx context.Context, uri string) {
	if v.seen[uri] {
		return
	}
	if _, ok := v.get(ctx, uri, true); ok {
		v.seen[uri] = true
	}
}

// get makes one request to the current edge; a failure is recorded.
func (v *llViewer) get(ctx context.Context, uri string, media bool) ([]byte, bool) {
	e := v.edges[v.at]
	start := time.Now()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.http+uri, nil)
	resp, err := v.client.Do(req)
	if ctx.Err() != nil {
		return nil, false
	}
	if err != nil {
		v.stats.fail(e.name, err.Error())
		v.at = (v.at + 1) % len(v.edges) // the viewer is sent elsewhere
		time.Sleep(50 * time.Millisecond)
		return nil, false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	switch {
	case ctx.Err() != nil:
		return nil, false
	case err != nil:
		v.stats.fail(e.name, uri+": body: "+err.Error())
		return nil, false
	case resp.StatusCode != http.StatusOK:
		v.stats.fail(e.name, fmt.Sprintf("%s: %d %s", uri, resp.StatusCode, strings.TrimSpace(string(b))))
		time.Sleep(50 * time.Millisecond)
		return nil, false
	}
	v.stats.ok(time.Since(start), media)
	return b, true
}
