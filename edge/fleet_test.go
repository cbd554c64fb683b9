package edge_test

import (
	"bytes"
	"encoding/base64"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/cluster/ring"
	"github.com/livecdn/livecdn/internal/testenv"
)

// Peer fetch end to end on a small fleet: a non-owner serves the owner's
// copy (latency added by the hop measured), forged hop and Via headers are
// refused, a node with the wrong gossip key stays out, /admin/drain drains.
func TestFleetPeers(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	f := startFleet(t, 3, "--gossip-key", key)
	e1, e2 := "http://"+f.edges[0].http, "http://"+f.edges[1].http
	m := testenv.WaitSegments(t, e1+"/live/s/video/index.m3u8", 3, 20*time.Second)
	r := ring.New([]ring.Node{{Name: "e1"}, {Name: "e2"}, {Name: "e3"}})
	base := map[string]string{"e1": e1, "e2": e2, "e3": "http://" + f.edges[2].http}

	// Each object: a hit at its owner, then a first request at a
	// non-owner, which the non-owner answers through the owner.
	var added []time.Duration
	for _, s := range m.Segments {
		for _, uri := range append([]string{s.URI}, partURIs(s)...) {
			p := "/live/s/video/" + uri
			owner, _ := r.Owner(p)
			other := "e1"
			if owner.Name == "e1" {
				other = "e2"
			}
			get(t, base[owner.Name]+p) // warm the owner
			hit, hdr := get(t, base[owner.Name]+p)
			if hdr.Get("X-Cache") != "HIT" {
				t.Fatalf("%s at its owner %s: %s", p, owner.Name, hdr.Get("X-Cache"))
			}
			peer, _ := get(t, base[other]+p)
			added = append(added, peer-hit)
		}
	}
	slices.Sort(added)
	t.Logf("peer fetch adds p50 %v, p99 %v over %d objects (loopback)", added[len(added)/2], added[len(added)*99/100], len(added))
	for uri, n := range f.origin.counts() {
		if strings.HasSuffix(uri, ".m4s") && n != 1 {
			t.Errorf("%s fetched %d times from the origin", uri, n)
		}
	}

	// Forged hop counts and Via loops are refused, not forwarded.
	for _, c := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"X-Livecdn-Hop", "3"}, http.StatusLoopDetected},
		{[]string{"X-Livecdn-Hop", "x"}, http.StatusBadRequest},
		{[]string{"Via", "1.1 proxy, 1.1 e1"}, http.StatusLoopDetected},
	} {
		resp, body := fetch(t, e1+"/live/s/video/index.m3u8", c.hdr...)
		if resp.StatusCode != c.want {
			t.Errorf("%v: %d %s, want %d", c.hdr, resp.StatusCode, body, c.want)
		}
	}

	// The wrong gossip key: the node cannot join, says so, and the fleet
	// does not change.
	wrong := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32))
	x := newNode(t, "intruder", 20, f.origin.URL, "--gossip-key", wrong, "--join", f.edges[0].gossip)
	x.start(t)
	testenv.Eventually(t, 10*time.Second, "the intruder logs that it cannot join", func() bool {
		return strings.Contains(x.proc.Output(), "cannot join")
	})
	if n := activeMembers(e1); n != 4 {
		t.Errorf("the fleet has %d active members after the intruder tried, want 4", n)
	}
	if n := activeMembers("http://" + x.http); n != 1 {
		t.Errorf("the intruder sees %d members", n)
	}

	// POST /admin/drain from loopback: e2 drains, leaves and exits.
	resp, err := http.Post(e2+"/admin/drain", "", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("drain: %v %v", resp, err)
	}
	resp.Body.Close()
	testenv.Eventually(t, 15*time.Second, "e2 gone from the cluster", func() bool {
		st, err := clusterStatus(e1)
		return err == nil && len(st.Members) == 3 && activeMembers(e1) == 3
	})
	testenv.Eventually(t, 15*time.Second, "e2 exited", func() bool {
		_, err := http.Get(e2 + "/healthz")
		return err != nil
	})
	if resp, body := fetch(t, e1+"/live/s/video/"+m.Segments[0].URI); resp.StatusCode != 200 || len(body) == 0 {
		t.Errorf("after the drain: %d", resp.StatusCode)
	}
}

func partURIs(s *playlist.MediaSegment) []string {
	var out []string
	for _, p := range s.Parts {
		out = append(out, p.URI)
	}
	return out
}

// get fetches url and returns how long it took and the headers.
func get(t *testing.T, url string) (time.Duration, http.Header) {
	t.Helper()
	start := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return time.Since(start), resp.Header
}
