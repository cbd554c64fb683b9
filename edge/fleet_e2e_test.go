package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// fleet is an origin behind a counting proxy, a shield behind another
// (the shield advertises the proxy, so every edge→shield request is
// counted), and three edges, all separate livecdn processes gossiping on
// their own 127.0.0.x addresses.
type fleet struct {
	origin, shieldIn *counter
	shield           *node
	edges            []*node
}

func startFleet(t *testing.T, edges int, extra ...string) *fleet {
	t.Helper()
	f := &fleet{origin: newCounter(t, liveOrigin(t))}
	seed := newNode(t, "e1", 2, f.origin.URL, extra...)
	shield := newNode(t, "shield", 9, f.origin.URL, extra...)
	f.shieldIn = newCounter(t, "http://"+shield.http)
	shield.args = append(shield.args, "--role", "shield", "--join", seed.gossip, "--advertise", f.shieldIn.URL)
	f.shield = shield
	f.edges = []*node{seed}
	for i := 2; i <= edges; i++ {
		f.edges = append(f.edges, newNode(t, fmt.Sprintf("e%d", i), i+1, f.origin.URL, extra...))
	}
	for _, e := range f.edges {
		e.args = append(e.args, "--join", seed.gossip)
	}
	var wg sync.WaitGroup
	for _, n := range append([]*node{shield}, f.edges...) {
		wg.Go(func() { n.start(t) })
	}
	wg.Wait()
	testenv.Eventually(t, 10*time.Second, "every node sees the whole fleet", func() bool {
		for _, n := range append([]*node{shield}, f.edges...) {
			if activeMembers("http://"+n.http) != edges+1 {
				return false
			}
		}
		return true
	})
	return f
}

// 300 LL-HLS viewers over three edges for 30 s: each segment and part is
// fetched from the origin exactly once and reaches the shield once; then
// one edge is SIGKILLed (the survivors keep serving), restarted (it takes
// its keys back), and another is drained by SIGTERM with nothing failing.
func TestFleetLoad(t *testing.T) {
	if testenv.Race {
		t.Skip("load test: runs in the race-free pass of scripts/test.sh")
	}
	f := startFleet(t, 3)
	stats := &viewerStats{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	const viewers = 300
	clients := make([]*http.Client, len(f.edges))
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: viewers, DisableCompression: true},
			Timeout: 20 * time.Second}
	}
	for i := range viewers {
		v := &llViewer{edges: f.edges, at: i % len(f.edges), path: "/live/s/video/index.m3u8", client: clients[i%len(clients)],
			stats: stats, seen: map[string]bool{}}
		wg.Go(func() { v.run(ctx) })
	}
	steady := 30 * time.Second
	time.Sleep(steady) // the load runs meanwhile; the assertions below are on what it did

	// One fetch per object for the whole fleet.
	originCounts, shieldCounts := f.origin.counts(), f.shieldIn.counts()
	objects, dup := 0, []string{}
	for uri, n := range originCounts {
		if strings.HasSuffix(uri, ".m4s") || strings.HasSuffix(uri, ".mp4") {
			objects++
			if n != 1 {
				dup = append(dup, fmt.Sprintf("%s×%d", uri, n))
			}
		}
	}
	shieldDup := []string{}
	for uri, n := range shieldCounts {
		if (strings.HasSuffix(uri, ".m4s") || strings.HasSuffix(uri, ".mp4")) && n != 1 {
			shieldDup = append(shieldDup, fmt.Sprintf("%s×%d", uri, n))
		}
	}
	stats.mu.Lock()
	requests, failed := stats.requests, len(stats.failures)
	stats.mu.Unlock()
	t.Logf("steady %v: %d viewer requests, %d failed; %d media objects fetched from the origin, %d more than once; %d reached the shield more than once",
		steady, requests, failed, objects, len(dup), len(shieldDup))
	if objects < 50 || len(dup) > 0 || len(shieldDup) > 0 || failed > 0 {
		t.Errorf("origin duplicates %v; shield duplicates %v; failures %v", dup, shieldDup, stats.failuresOn("", time.Time{}, time.Now()))
	}
	peerOK := 0
	for _, e := range f.edges {
		peerOK += scrape(t, "http://"+e.http, `livecdn_cluster_peer_fetches_total{result="ok",tier="peer"}`)
	}
	if peerOK == 0 {
		t.Error("no edge fetched from a peer: the ring is not in use")
	}

	// SIGKILL one edge under load.
	victim := f.edges[2]
	killed := time.Now()
	victim.proc.Kill()
	time.Sleep(8 * time.Second)
	first := stats.failuresOn(victim.name, killed, killed.Add(time.Second))
	after := stats.failuresOn(victim.name, killed.Add(time.Second), time.Now())
	lastErr := killed
	for _, fl := range stats.failuresOn(victim.name, killed, time.Now()) {
		lastErr = fl.at
	}
	t.Logf("SIGKILL %s: survivors failed %d requests in the first second, %d after; last survivor error %v after the kill",
		victim.name, len(first), len(after), lastErr.Sub(killed).Round(time.Millisecond))
	if len(after) > 0 {
		t.Errorf("survivors failed after the first second: %v", after)
	}

	// Restart it: it rejoins and owns keys again.
	restarted := time.Now()
	victim.start(t)
	testenv.Eventually(t, 10*time.Second, "the restarted edge owns keys again", func() bool {
		st, err := clusterStatus("http://" + f.edges[0].http)
		if err != nil {
			return false
		}
		for _, m := range st.Members {
			if m.Name == victim.name && m.State == "active" && m.Share > 0 {
				return true
			}
		}
		return false
	})
	t.Logf("restarted %s owns keys %v after its process started", victim.name, time.Since(restarted).Round(time.Millisecond))
	testenv.Eventually(t, 10*time.Second, "peers fetch from the restarted edge", func() bool {
		return scrape(t, "http://"+victim.http, `livecdn_edge_requests_total`) > 0
	})

	// SIGTERM another edge under load: its in-flight responses finish.
	drained := f.edges[1]
	termAt := time.Now()
	if err := drained.proc.Stop(15 * time.Second); err != nil {
		t.Errorf("drain: %v", err)
	}
	t.Logf("SIGTERM %s: exited after %v", drained.name, time.Since(termAt).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	cancel()
	wg.Wait()
	var inflight []failure
	for _, fl := range stats.failuresOn("", termAt, time.Now()) {
		// Connection refused after the listener closed is not an in-flight
		// failure: the viewer is moved to another edge, as DNS would.
		if !strings.Contains(fl.what, "connection refused") {
			inflight = append(inflight, fl)
		}
	}
	if len(inflight) > 0 {
		t.Errorf("%d failures during the drain: %v", len(inflight), inflight)
	}
	stats.mu.Lock()
	lat := slices.Clone(stats.latency)
	stats.mu.Unlock()
	slices.Sort(lat)
	if len(lat) > 0 {
		t.Logf("viewer media latency p50 %v p99 %v over %d requests", lat[len(lat)/2], lat[len(lat)*99/100], len(lat))
	}
}

// scrape returns the sum of the metric lines of base's /metrics that
// start with prefix.
func scrape(t *testing.T, base, prefix string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	total := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, prefix) {
			var v float64
			fmt.Sscanf(line[strings.LastIndexByte(line, ' ')+1:], "%g", &v)
			total += int(v)
		}
	}
	return total
}
