package report_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/bench/report"
	"github.com/livecdn/livecdn/bench/scenario"
	"github.com/livecdn/livecdn/internal/testenv"
)

func result() *scenario.Result {
	res := &scenario.Result{Scenario: "origin-outage", Protocol: "llhls", Targets: []string{"http://127.0.0.1:1/live/s/index.m3u8"},
		Viewers: 100, Duration: 30 * time.Second, Started: time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC),
		Events: []scenario.Event{{T: 10, What: "origin paused <SIGSTOP>"}, {T: 13, What: "origin resumed"}}}
	for i := 1; i <= 30; i++ {
		s := scenario.Sample{T: float64(i), Viewers: int64(min(100, i*50)), Playing: int64(min(100, i*50)), ReqPerSec: 1000,
			Gbps: 0.4, PartP50: 1, PartP99: 20, LiveP50: 700, LiveP99: 900, OriginFetches: float64(10 * i), HitRatio: 0.99}
		if i > 10 && i < 14 {
			s.Playing, s.Stalls, s.HitRatio = 0, 100, -1
		}
		res.Samples = append(res.Samples, s)
	}
	res.Summary = scenario.Summary{PeakViewers: 100, Stalls: 100, HitRatio: 0.99}
	return res
}

// The report is one self-contained HTML file: it opens in headless Chromium
// with no console errors and no request leaving the page, and holds the
// plots; the JSON round-trips.
func TestReportOpensOffline(t *testing.T) {
	dir := t.TempDir()
	jp, hp, err := report.Write(dir, result())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(jp)
	var back scenario.Result
	if err := json.Unmarshal(b, &back); err != nil || len(back.Samples) != 30 || back.Summary.Stalls != 100 {
		t.Fatalf("json: %v, %d samples", err, len(back.Samples))
	}
	html, _ := os.ReadFile(hp)
	// No scripts, styles or images from anywhere: the only URLs are the SVG
	// namespace and the target, printed as text.
	rest := strings.ReplaceAll(string(html), "http://www.w3.org/2000/svg", "")
	rest = strings.ReplaceAll(rest, "http://127.0.0.1:1/live/s/index.m3u8", "")
	for _, bad := range []string{"<script", "http:", "https:", "<link", "<img", "src="} {
		if strings.Contains(rest, bad) {
			t.Errorf("report contains %q: not self-contained", bad)
		}
	}
	r := testenv.OpenPage(t, hp, `({plots: document.querySelectorAll("figure.plot svg").length,
		lines: document.querySelectorAll("figure.plot svg polyline").length,
		events: document.querySelectorAll("figure.plot svg line[stroke-dasharray]").length,
		title: document.title})`)
	if len(r.Errors) > 0 || len(r.Blocked) > 0 {
		t.Fatalf("errors %v, blocked %v, console %v", r.Errors, r.Blocked, r.Console)
	}
	var ev struct {
		Plots, Lines, Events int
		Title                string
	}
	if err := json.Unmarshal(r.Eval, &ev); err != nil {
		t.Fatalf("eval %s: %v", r.Eval, err)
	}
	t.Logf("%+v", ev)
	if ev.Plots != 8 || ev.Lines < 12 || ev.Events != 16 || !strings.Contains(ev.Title, "origin-outage") {
		t.Fatalf("page has %+v, want 8 plots with lines and the 2 events on each", ev)
	}
}
