package scenario_test

import (
	"context"
	"testing"
	"time"

	"github.com/livecdn/livecdn/bench/scenario"
	"github.com/livecdn/livecdn/bench/sut"
	"github.com/livecdn/livecdn/internal/testenv"
)

func start(t *testing.T, edges int) *sut.System {
	t.Helper()
	sys, err := sut.Start(context.Background(), sut.Config{Binary: testenv.Binary(t), Stream: "s", Edges: edges})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	return sys
}

func run(t *testing.T, sys *sut.System, name string, viewers int, d time.Duration) *scenario.Result {
	t.Helper()
	cfg := scenario.Config{Scenario: name, Viewers: viewers, Duration: d, Rendition: -1, Delta: true, System: sys}
	for _, e := range sys.Edges {
		cfg.URLs = append(cfg.URLs, sys.StreamURL(e.URL, false))
		cfg.Metrics = append(cfg.Metrics, e.URL)
	}
	res, err := scenario.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Summary
	t.Logf("%s: viewers %d, requests %d, errors %d, stalls %d (%.1f s), failovers %d, part p50 %.1f ms p99 %.1f ms, live p50 %.2f s, hit ratio %.3f, origin fetches %.0f, events %v",
		name, s.PeakViewers, s.Requests, s.Errors, s.Stalls, s.StallSeconds, s.Failovers, s.PartP50, s.PartP99, s.LiveP50/1000, s.HitRatio, s.OriginFetches, res.Events)
	return res
}

// An origin paused for 3 s (a silent upstream) must show as stalls; the same
// run without the pause shows none. The numbers can fail both ways.
func TestStallInjection(t *testing.T) {
	if testing.Short() {
		t.Skip("two 12 s runs")
	}
	sys := start(t, 1)
	steady := run(t, sys, "steady", 20, 12*time.Second)
	if steady.Summary.Stalls != 0 || steady.Summary.Errors != 0 {
		t.Errorf("steady: %d stalls, %d errors; want none", steady.Summary.Stalls, steady.Summary.Errors)
	}
	if steady.Summary.PeakViewers != 20 || len(steady.Samples) < 10 {
		t.Errorf("steady: peak %d viewers, %d samples", steady.Summary.PeakViewers, len(steady.Samples))
	}
	out := run(t, sys, "origin-outage", 20, 12*time.Second)
	if out.Summary.Stalls < 20 {
		t.Errorf("origin-outage: %d stalls, want every viewer to stall at least once", out.Summary.Stalls)
	}
	if len(out.Events) != 2 {
		t.Errorf("origin-outage events %v, want pause and resume", out.Events)
	}
	if out.Samples[len(out.Samples)-1].Playing < 18 {
		t.Errorf("after the outage only %d viewers play", out.Samples[len(out.Samples)-1].Playing)
	}
}

// Killing one of two edges mid-run moves its viewers to the other edge.
func TestEdgeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("a 12 s run")
	}
	sys := start(t, 2)
	res := run(t, sys, "edge-kill", 20, 12*time.Second)
	if res.Summary.Failovers < 10 {
		t.Errorf("%d failovers, want the killed edge's 10 viewers to move", res.Summary.Failovers)
	}
	if sys.Edges[0].Alive() {
		t.Error("edge 1 still alive")
	}
	if last := res.Samples[len(res.Samples)-1]; last.Playing < 18 {
		t.Errorf("after the kill only %d of 20 viewers play", last.Playing)
	}
}
