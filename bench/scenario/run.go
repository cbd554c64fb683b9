package scenario

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/livecdn/livecdn/bench/player"
)

// Sample is one second of a run. Latencies are in milliseconds; counters
// marked cumulative count from the start.
type Sample struct {
	T             float64 `json:"t"`
	Viewers       int64   `json:"viewers"`
	Playing       int64   `json:"playing"`
	ReqPerSec     float64 `json:"req_per_sec"`
	Gbps          float64 `json:"gbps"`
	PartP50       float64 `json:"part_p50_ms"`
	PartP99       float64 `json:"part_p99_ms"`
	SegmentP50    float64 `json:"segment_p50_ms"`
	SegmentP99    float64 `json:"segment_p99_ms"`
	PlaylistP50   float64 `json:"playlist_p50_ms"`
	PlaylistP99   float64 `json:"playlist_p99_ms"`
	LiveP50       float64 `json:"live_latency_p50_ms"`
	LiveP99       float64 `json:"live_latency_p99_ms"`
	Stalls        int64   `json:"stalls"`         // cumulative
	Errors        int64   `json:"errors"`         // cumulative
	OriginFetches float64 `json:"origin_fetches"` // cumulative, all scraped edges
	HitRatio      float64 `json:"hit_ratio"`      // this second, -1 when not scraped
}

// Event is something the scenario did.
type Event struct {
	T    float64 `json:"t"`
	What string  `json:"what"`
}

// Result is a finished run.
type Result struct {
	Scenario string        `json:"scenario"`
	Protocol string        `json:"protocol"`
	Targets  []string      `json:"targets"`
	Viewers  int           `json:"viewers"`
	Duration time.Duration `json:"duration_ns"`
	Started  time.Time     `json:"started"`
	Samples  []Sample      `json:"samples"`
	Events   []Event       `json:"events"`
	Summary  Summary       `json:"summary"`
}

// Summary is the whole run in figures.
type Summary struct {
	PeakViewers    int64   `json:"peak_viewers"`
	Requests       int64   `json:"requests"`
	Bytes          int64   `json:"bytes"`
	Errors         int64   `json:"errors"`
	Stalls         int64   `json:"stalls"`
	StallSeconds   float64 `json:"stall_seconds"`
	Behind         int64   `json:"behind"`
	Failovers      int64   `json:"failovers"`
	Switches       int64   `json:"switches"`
	ReqPerSec      float64 `json:"req_per_sec"`
	Gbps           float64 `json:"gbps"`
	PartP50        float64 `json:"part_p50_ms"`
	PartP99        float64 `json:"part_p99_ms"`
	SegmentP50     float64 `json:"segment_p50_ms"`
	SegmentP99     float64 `json:"segment_p99_ms"`
	PlaylistP50    float64 `json:"playlist_p50_ms"`
	PlaylistP99    float64 `json:"playlist_p99_ms"`
	BlockingP50    float64 `json:"blocking_p50_ms"`
	StartupP50     float64 `json:"startup_p50_ms"`
	StartupP99     float64 `json:"startup_p99_ms"`
	LiveP50        float64 `json:"live_latency_p50_ms"`
	LiveP99        float64 `json:"live_latency_p99_ms"`
	LiveMean       float64 `json:"live_latency_mean_ms"`
	OriginFetches  float64 `json:"origin_fetches"`
	HitRatio       float64 `json:"hit_ratio"`
	BytesPerViewer int64   `json:"mem_bytes_per_viewer"`
	EdgeRSS        []int64 `json:"edge_rss_bytes,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run executes the scenario until its duration has passed or ctx ends.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		cfg.Client = player.NewClient(player.ClientConfig{})
	}
	st := &player.Stats{}
	var memBase runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&memBase)
	before := scrape(ctx, cfg.Metrics, cfg.originMetrics())
	// The clock starts after the setup, so event times and the duration are
	// the viewers' however slow a loaded box makes the setup.
	res := &Result{Scenario: cfg.Scenario, Protocol: string(cfg.Protocol), Targets: cfg.URLs,
		Viewers: cfg.Viewers, Duration: cfg.Duration, Started: time.Now()}
	// A quarter second past the duration: the last one-second sample is
	// taken before the viewers start leaving, not while they do.
	runCtx, stop := context.WithTimeout(ctx, cfg.Duration+250*time.Millisecond)
	defer stop()

	p := &pool{cfg: &cfg, st: st, ctx: runCtx}
	var evMu sync.Mutex
	event := func(what string) {
		evMu.Lock()
		res.Events = append(res.Events, Event{T: time.Since(res.Started).Seconds(), What: what})
		evMu.Unlock()
		if cfg.Logger != nil {
			cfg.Logger.Info("bench event", "what", what)
		}
	}
	var inject sync.WaitGroup
	inject.Go(func() { injectFailures(runCtx, &cfg, event) })

	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	nextSample := res.Started.Add(time.Second)
	prev, prevScrape := st.Snapshot(), before
	var peakMem struct {
		viewers int64
		bytes   uint64
	}
	lastChurn := res.Started
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case now := <-tick.C:
			el := now.Sub(res.Started)
			p.resize(cfg.target(el))
			if cfg.Scenario == "churn" && now.Sub(lastChurn) >= time.Second && el > 2*time.Second {
				p.churn(int(cfg.Churn * float64(cfg.Viewers)))
				lastChurn = now
			}
			if now.Before(nextSample) {
				continue
			}
			nextSample = nextSample.Add(time.Second)
			cur := st.Snapshot()
			sc := scrape(ctx, cfg.Metrics, cfg.originMetrics())
			s := sample(el, cur, prev, sc, prevScrape, before)
			res.Samples = append(res.Samples, s)
			prev, prevScrape = cur, sc
			if cur.Active > peakMem.viewers {
				// Live memory, not garbage waiting for the collector: one
				// forced GC per new peak (a few per run).
				var m runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m)
				peakMem.viewers = cur.Active
				peakMem.bytes = (m.HeapInuse + m.StackInuse) - min(m.HeapInuse+m.StackInuse, memBase.HeapInuse+memBase.StackInuse)
			}
			progress(&cfg, s)
		}
	}
	p.wait()
	inject.Wait()
	if cfg.Progress != nil && cfg.TTY {
		fmt.Fprintln(cfg.Progress)
	}
	end := st.Snapshot()
	after := scrape(ctx, cfg.Metrics, cfg.originMetrics())
	res.Summary = summarize(end, time.Since(res.Started), after, before, cfg.Metrics)
	if peakMem.viewers > 0 {
		res.Summary.BytesPerViewer = int64(peakMem.bytes) / peakMem.viewers
	}
	for _, s := range res.Samples {
		res.Summary.PeakViewers = max(res.Summary.PeakViewers, s.Viewers)
	}
	if cfg.System != nil {
		for _, e := range cfg.System.Edges {
			res.Summary.EdgeRSS = append(res.Summary.EdgeRSS, e.RSS())
		}
	}
	return res, nil
}

func sample(el time.Duration, cur, prev player.StatsSnap, sc, psc, base EdgeCounters) Sample {
	dt := cur.At.Sub(prev.At).Seconds()
	s := Sample{
		T: el.Seconds(), Viewers: cur.Active, Playing: cur.Playing,
		ReqPerSec: float64(cur.TotalRequests()-prev.TotalRequests()) / dt,
		Gbps:      float64(cur.Bytes-prev.Bytes) * 8 / dt / 1e9,
		Stalls:    cur.Stalls, Errors: cur.Errors,
		OriginFetches: sc.OriginFetches - base.OriginFetches, HitRatio: -1,
	}
	part := cur.Latency[player.KindPart].Sub(prev.Latency[player.KindPart])
	seg := cur.Latency[player.KindSegment].Sub(prev.Latency[player.KindSegment])
	pl := cur.Latency[player.KindPlaylist].Sub(prev.Latency[player.KindPlaylist])
	live := cur.LiveDelay.Sub(prev.LiveDelay)
	s.PartP50, s.PartP99 = ms(part.Quantile(.5)), ms(part.Quantile(.99))
	s.SegmentP50, s.SegmentP99 = ms(seg.Quantile(.5)), ms(seg.Quantile(.99))
	s.PlaylistP50, s.PlaylistP99 = ms(pl.Quantile(.5)), ms(pl.Quantile(.99))
	s.LiveP50, s.LiveP99 = ms(live.Quantile(.5)), ms(live.Quantile(.99))
	if dr := sc.Requests - psc.Requests; sc.Scraped > 0 && dr > 0 {
		s.HitRatio = (sc.Hits - psc.Hits) / dr
	}
	return s
}

func summarize(end player.StatsSnap, el time.Duration, after, before EdgeCounters, metrics []string) Summary {
	part, seg := end.Latency[player.KindPart], end.Latency[player.KindSegment]
	pl, bl := end.Latency[player.KindPlaylist], end.Latency[player.KindBlocking]
	s := Summary{
		Requests: end.TotalRequests(), Bytes: end.Bytes, Errors: end.Errors, Stalls: end.Stalls,
		StallSeconds: end.StallTime.Seconds(), Behind: end.Behind, Failovers: end.Failovers, Switches: end.Switches,
		ReqPerSec: float64(end.TotalRequests()) / el.Seconds(), Gbps: float64(end.Bytes) * 8 / el.Seconds() / 1e9,
		PartP50: ms(part.Quantile(.5)), PartP99: ms(part.Quantile(.99)),
		SegmentP50: ms(seg.Quantile(.5)), SegmentP99: ms(seg.Quantile(.99)),
		PlaylistP50: ms(pl.Quantile(.5)), PlaylistP99: ms(pl.Quantile(.99)), BlockingP50: ms(bl.Quantile(.5)),
		StartupP50: ms(end.Startup.Quantile(.5)), StartupP99: ms(end.Startup.Quantile(.99)),
		LiveP50: ms(end.LiveDelay.Quantile(.5)), LiveP99: ms(end.LiveDelay.Quantile(.99)), LiveMean: ms(end.LiveDelay.Mean()),
		OriginFetches: after.OriginFetches - before.OriginFetches, HitRatio: -1,
	}
	if dr := after.Requests - before.Requests; len(metrics) > 0 && dr > 0 {
		s.HitRatio = (after.Hits - before.Hits) / dr
	}
	return s
}

func progress(cfg *Config, s Sample) {
	if cfg.Progress == nil {
		return
	}
	line := fmt.Sprintf("t=%3.0fs viewers %d (playing %d)  %.0f req/s  %.3f Gb/s  part p50 %.1f ms p99 %.1f ms  live %.2f s  stalls %d  errors %d",
		s.T, s.Viewers, s.Playing, s.ReqPerSec, s.Gbps, s.PartP50, s.PartP99, s.LiveP50/1000, s.Stalls, s.Errors)
	if cfg.TTY {
		fmt.Fprintf(cfg.Progress, "\r\033[K%s", line)
	} else if int(s.T)%5 == 0 {
		fmt.Fprintln(cfg.Progress, line)
	}
}

// pool is the running viewers.
type pool struct {
	cfg    *Config
	st     *player.Stats
	ctx    context.Context
	wg     sync.WaitGroup
	live   []context.CancelFunc
	serial int
}

func (p *pool) resize(n int) {
	for len(p.live) < n {
		p.join()
	}
	for len(p.live) > n {
		p.leave()
	}
}

func (p *pool) join() {
	i := p.serial
	p.serial++
	ctx, cancel := context.WithCancel(p.ctx)
	p.live = append(p.live, cancel)
	urls := p.cfg.URLs
	vc := player.Config{
		URL: urls[i%len(urls)], Protocol: p.cfg.Protocol, Rendition: p.cfg.Rendition, Bandwidth: p.cfg.Bandwidth,
		CMCD: p.cfg.CMCD, Delta: p.cfg.Delta, Client: p.cfg.Client, Stats: p.st, ID: "v" + strconv.Itoa(i),
	}
	for k := 1; k < len(urls); k++ {
		vc.Alternates = append(vc.Alternates, urls[(i+k)%len(urls)])
	}
	if p.cfg.Scenario == "abr-stress" {
		// Each viewer its own link, from a quarter to twice the nominal rate.
		vc.Bandwidth = int64(float64(p.cfg.Bandwidth) * (0.25 + 1.75*rand.Float64()))
		vc.Rendition = -1
	}
	p.wg.Go(func() {
		if _, err := player.Run(ctx, vc); err != nil {
			p.failed(vc.ID, err)
		}
	})
}

// failed logs a viewer that could not play. Out of line: the frame of the
// function that runs a viewer sits under all its calls, and slog's
// arguments would make it larger.
//
//go:noinline
func (p *pool) failed(id string, err error) {
	if p.cfg.Logger != nil {
		p.cfg.Logger.Debug("viewer failed", "viewer", id, "err", err)
	}
}

// leave stops a random viewer.
func (p *pool) leave() {
	i := rand.IntN(len(p.live))
	p.live[i]()
	p.live[i] = p.live[len(p.live)-1]
	p.live = p.live[:len(p.live)-1]
}

func (p *pool) churn(n int) {
	for range min(n, len(p.live)) {
		p.leave()
		p.join()
	}
}

func (p *pool) wait() {
	for _, c := range p.live {
		c()
	}
	p.wg.Wait()
}

// injectFailures kills an edge or pauses the origin when the scenario says.
func injectFailures(ctx context.Context, cfg *Config, event func(string)) {
	wait := func(d time.Duration) bool { return player.Sleep(ctx, d) == nil }
	switch cfg.Scenario {
	case "edge-kill":
		if !wait(cfg.Duration / 2) {
			return
		}
		e := cfg.System.Edges[0]
		e.Kill()
		event("killed " + e.Name + " (SIGKILL)")
	case "origin-outage":
		if !wait(cfg.Duration / 3) {
			return
		}
		o := cfg.System.Origin
		if err := o.Pause(); err != nil {
			event("pause origin failed: " + err.Error())
			return
		}
		event("origin paused (SIGSTOP)")
		_ = player.Sleep(context.Background(), cfg.Outage) // resume even when the run ends first
		_ = o.Resume()
		event("origin resumed (SIGCONT)")
	}
}

// originMetrics is the origin's base URL when the bench started it.
func (c *Config) originMetrics() string {
	if c.System != nil && c.System.Origin != nil {
		return c.System.Origin.URL
	}
	return ""
}
