package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/deploy/opscli"
	"github.com/livecdn/livecdn/internal/testenv"
)

// gossipKey is a test key (32 bytes, base64).
const gossipKey = "bGl2ZWNkbi1jb21wb3NlLWRldi1rZXktMzJieXRlcyE="

// clusterNode starts `livecdn edge` as a cluster member joining join (empty: first node).
func clusterNode(t *testing.T, name, role, originURL, join string) (*testenv.Process, string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	gossip := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if join == "" {
		join = gossip
	}
	p := testenv.Start(t, addr, "edge", "--http", addr, "--origin", originURL, "--cache-size", "16MiB",
		"--role", role, "--node-name", name, "--gossip", gossip, "--join", join,
		"--advertise", "http://"+addr, "--gossip-key", gossipKey, "--drain", "2s")
	return p, gossip
}

// statusJSON runs `livecdn status --json` and decodes its report.
func statusJSON(t *testing.T, edges ...string) (*opscli.Report, int) {
	t.Helper()
	args := []string{"status", "--json"}
	for _, e := range edges {
		args = append(args, "--edge", e)
	}
	out, stderr, code := runBin(t, args...)
	if code != 0 {
		return nil, code
	}
	var rep opscli.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, out, stderr)
	}
	return &rep, code
}

// status lists a real 3-edge + 1-shield cluster; drain takes one edge out
// and status then lists the others only.
func TestStatusAndDrainCluster(t *testing.T) {
	originAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	origin := testenv.Start(t, originAddr, "origin", "--http", originAddr, "--rtmp", "", "--rtsp", "", "--srt", "", "--archive", t.TempDir())
	e1, seed := clusterNode(t, "e1", "edge", origin.HTTP, "")
	e2, _ := clusterNode(t, "e2", "edge", origin.HTTP, seed)
	clusterNode(t, "e3", "edge", origin.HTTP, seed)
	clusterNode(t, "s1", "shield", origin.HTTP, seed)

	var rep *opscli.Report
	testenv.Eventually(t, 15*time.Second, "status lists 4 active members", func() bool {
		rep, _ = statusJSON(t, e1.HTTP)
		if rep == nil || len(rep.Nodes) != 4 {
			return false
		}
		for _, n := range rep.Nodes {
			if n.State != "active" || n.Stats == nil {
				return false
			}
		}
		return true
	})
	if rep.Standalone || rep.Self != "e1" {
		t.Errorf("report from %q, standalone %v", rep.Self, rep.Standalone)
	}
	share := map[string]float64{}
	roles := map[string]int{}
	for _, n := range rep.Nodes {
		share[n.Role] += n.Share
		roles[n.Role]++
	}
	if roles["edge"] != 3 || roles["shield"] != 1 || rep.Nodes[0].Role != "shield" {
		t.Errorf("roles %v, order %v", roles, rep.Nodes)
	}
	// Each role's ring splits its keys: shares add up to 1 per role.
	for role, s := range share {
		if math.Abs(s-1) > 0.01 {
			t.Errorf("%s key shares add up to %.3f", role, s)
		}
	}
	out, _, code := runBin(t, "status", "--edge", "http://127.0.0.1:1", "--edge", e1.HTTP)
	if code != 0 || !strings.Contains(out, "cluster as seen by e1") || !strings.Contains(out, "4 members, 4 active") {
		t.Errorf("status with a dead first --edge: exit %d\n%s", code, out)
	}

	// Drain e2 and wait for it to exit.
	out, stderr, code := runBin(t, "drain", "--wait", "20s", e2.HTTP)
	if code != 0 || !strings.Contains(out, "drained and gone") {
		t.Fatalf("drain: exit %d: %s%s", code, out, stderr)
	}
	if err := e2.Stop(5 * time.Second); err != nil {
		t.Errorf("drained edge: %v", err)
	}
	testenv.Eventually(t, 15*time.Second, "status lists 3 members after the drain", func() bool {
		rep, _ = statusJSON(t, e1.HTTP)
		if rep == nil {
			return false
		}
		active := 0
		for _, n := range rep.Nodes {
			if n.Name == "e2" && n.State == "active" {
				return false
			}
			if n.State == "active" {
				active++
			}
		}
		return active == 3
	})
}
