package validate

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name, Type string
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func loadDashboard(t *testing.T) *dashboard {
	t.Helper()
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(readFile(t, "grafana/livecdn.json"))))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("grafana/livecdn.json: %v", err)
	}
	return &d
}

func TestDashboardLayout(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard without uid or title")
	}
	if !slices.ContainsFunc(d.Templating.List, func(v struct{ Name, Type string }) bool { return v.Type == "datasource" }) {
		t.Error("no datasource variable: the dashboard would be bound to one Prometheus")
	}
	ids := map[int]bool{}
	for i, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: duplicate id %d", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q: bad gridPos %+v", p.Title, p.GridPos)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range d.Panels[i+1:] {
			a, b := p.GridPos, q.GridPos
			if a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H {
				t.Errorf("panels %q and %q overlap", p.Title, q.Title)
			}
		}
	}
	// The panels the operations issue asks for.
	titles := strings.Join(func() []string {
		var s []string
		for _, p := range d.Panels {
			s = append(s, strings.ToLower(p.Title))
		}
		return s
	}(), "\n")
	for _, want := range []string{"viewers", "requests/s per edge", "gb/s per edge", "hit ratio per tier", "origin fetches per",
		"coalesced waiters", "held ll-hls requests", "part-ready latency", "ingest bitrate", "ffmpeg speed", "gossip members"} {
		if !strings.Contains(titles, want) {
			t.Errorf("no panel titled like %q", want)
		}
	}
}

// queryMetric finds metric names in PromQL: the project's own, Go's and the
// process collector's (label names and quoted values never start so).
var queryMetric = regexp.MustCompile(`\b((?:livecdn|process|go)_[a-zA-Z0-9_:]+)`)

// queriedMetrics returns every metric the dashboard and the alert rules query.
func queriedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, p := range loadDashboard(t).Panels {
		for _, q := range p.Targets {
			for _, m := range queryMetric.FindAllString(q.Expr, -1) {
				used[m] = append(used[m], "dashboard "+p.Title)
			}
		}
	}
	rules := string(readFile(t, "prometheus/alerts.yml"))
	for _, m := range queryMetric.FindAllString(rules, -1) {
		used[m] = append(used[m], "alerts.yml")
	}
	return used
}

// scrapeNames returns the series names of a /metrics page.
func scrapeNames(url string) map[string]bool {
	names := map[string]bool{}
	resp, err := http.Get(url)
	if err != nil {
		return names
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return names
	}
	for _, l := range strings.Split(string(b), "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		if i := strings.IndexAny(l, "{ "); i > 0 {
			names[l[:i]] = true
		}
	}
	return names
}

// eventOnly are labelled counters that get their first series only when
// their event happens (an ffmpeg restart), so a healthy run cannot scrape
// them: for these the test checks the registering source file instead.
var eventOnly = map[string]string{"livecdn_transcode_restarts_total": "transcode/metrics.go"}

// Every metric the dashboard and the alerts query is one a running origin
// (with an ffmpeg ladder and a live publisher) or edge (with viewers) exports.
func TestDashboardMetricsExist(t *testing.T) {
	testenv.NeedFFmpeg(t)
	used := queriedMetrics(t)
	if len(used) < 20 {
		t.Fatalf("only %d metrics found in the queries: %v", len(used), used)
	}
	dir := t.TempDir()
	ladder := filepath.Join(dir, "ladder.yaml")
	if err := os.WriteFile(ladder, []byte("rungs:\n  - {name: src, passthrough: true}\n  - {name: low, height: 90, video_bitrate: 100k, preset: ultrafast}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	originAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rtmp := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	origin := testenv.Start(t, originAddr, "origin", "--http", originAddr, "--rtmp", rtmp, "--rtsp", "", "--srt", "",
		"--archive", filepath.Join(dir, "archive"), "--ladder", ladder)
	edgeAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// A one-node cluster, so the cluster metrics exist too.
	gossip := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	edge := testenv.Start(t, edgeAddr, "edge", "--http", edgeAddr, "--origin", origin.HTTP, "--cache-size", "64MiB",
		"--gossip", gossip, "--join", gossip, "--node-name", "e1", "--advertise", "http://"+edgeAddr,
		"--gossip-key", "bGl2ZWNkbi1jb21wb3NlLWRldi1rZXktMzJieXRlcyE=")
	testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", "rtmp://"+rtmp+"/live/s")

	// Viewers through the edge: playlists, a segment twice (a miss, then a hit).
	pl := testenv.WaitSegments(t, edge.HTTP+"/live/s/low/index.m3u8", 2, 30*time.Second)
	seg := edge.HTTP + "/live/s/low/" + pl.Segments[0].URI
	for range 2 {
		if code, _ := testenv.Get(t, seg); code != http.StatusOK {
			t.Fatalf("GET %s: %d", seg, code)
		}
	}
	testenv.Get(t, edge.HTTP+"/live/s/index.m3u8")

	// Labelled series appear once something happened (ffmpeg's first
	// progress report, the first fetch): poll for a while, then name what is missing.
	var missing []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		have := scrapeNames(origin.HTTP + "/metrics")
		for n := range scrapeNames(edge.HTTP + "/metrics") {
			have[n] = true
		}
		missing = missing[:0]
		for m := range used {
			if src, ok := eventOnly[m]; ok {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(deployDir()), src))
				if err != nil || !strings.Contains(string(b), `"`+m+`"`) {
					missing = append(missing, m)
				}
				continue
			}
			if !have[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		for _, m := range missing {
			t.Errorf("%s (used by %v) is exported by neither the origin nor the edge", m, used[m])
		}
	}
}
