// Package compare runs `livecdn bench compare`: the same workloads against
// livecdn edge, nginx proxy_cache and Varnish, each in front of the same
// origin, in one run, and reports each cache's figures with ratios to
// livecdn's. nginx and Varnish use deploy/compare/nginx.conf and
// varnish.vcl (the configs deploy/compare/run.sh uses) filled in the same
// way. Workloads: cached 1 MiB segments, 100 KiB parts and 1 KiB playlists
// under closed-loop load; a flash crowd of first-time requests on a 100 ms
// origin; LL-HLS viewers (bench/player) on a real livecdn origin.
package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/livecdn/livecdn/bench/player"
	"github.com/livecdn/livecdn/bench/scenario"
	"github.com/livecdn/livecdn/bench/sut"
)

// Config is one comparison.
type Config struct {
	// Binary is the livecdn executable; Dir holds nginx.conf and varnish.vcl.
	Binary, Dir string
	// Caches to compare (default livecdn, nginx, varnish); livecdn first is
	// the baseline of the ratios.
	Caches []string
	// Conns and Duration shape each closed-loop workload (200, 10 s).
	Conns    int
	Duration time.Duration
	// FlashN first-time requests at once on a FlashDelay origin (500, 100 ms).
	FlashN     int
	FlashDelay time.Duration
	// Viewers LL-HLS viewers for ViewerDuration (200, 20 s); 0 skips.
	Viewers        int
	ViewerDuration time.Duration
	// CacheMiB is every cache's memory budget (256).
	CacheMiB int
	// Workloads to run (default all): segment, part, playlist, flash, llhls.
	Workloads []string
	Log       io.Writer
}

// Row is one cache under one workload.
type Row struct {
	Workload      string  `json:"workload"`
	Cache         string  `json:"cache"`
	ReqPerSec     float64 `json:"req_per_sec"`
	Gbps          float64 `json:"gbps"`
	P50           float64 `json:"p50_ms"`
	P99           float64 `json:"p99_ms"`
	OriginFetches int64   `json:"origin_fetches"`
	RSS           int64   `json:"rss_bytes"`
	Errors        int64   `json:"errors"`
	Stalls        int64   `json:"stalls,omitempty"`
}

// Result is every row, in workload order.
type Result struct {
	Rows []Row `json:"rows"`
}

func (c *Config) defaults() {
	if len(c.Caches) == 0 {
		c.Caches = []string{"livecdn", "nginx", "varnish"}
	}
	if c.Conns == 0 {
		c.Conns = 200
	}
	if c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.FlashN == 0 {
		c.FlashN = 500
	}
	if c.FlashDelay == 0 {
		c.FlashDelay = 100 * time.Millisecond
	}
	if c.ViewerDuration == 0 {
		c.ViewerDuration = 20 * time.Second
	}
	if c.CacheMiB == 0 {
		c.CacheMiB = 256
	}
	if len(c.Workloads) == 0 {
		c.Workloads = []string{"segment", "part", "playlist", "flash", "llhls"}
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Run starts the origin and the caches, runs every workload on every
// cache and stops everything.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg.defaults()
	for _, f := range []string{"nginx.conf", "varnish.vcl"} {
		if _, err := os.Stat(filepath.Join(cfg.Dir, f)); err != nil {
			return nil, fmt.Errorf("compare configs: %w (run from the repository root or pass --compare-dir)", err)
		}
	}
	if err := EnsureTools(ctx); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "livecdn-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	live := ""
	if cfg.Viewers > 0 && has(cfg.Workloads, "llhls") {
		sys, err := sut.Start(ctx, sut.Config{Binary: cfg.Binary, Stream: "llhls", OriginOnly: true})
		if err != nil {
			return nil, err
		}
		defer sys.Close()
		live = sys.Origin.URL
	}
	up, err := newUpstream(live, cfg.FlashDelay)
	if err != nil {
		return nil, err
	}
	defer up.close()
	var caches []*cache
	defer func() {
		for _, c := range caches {
			c.stop()
		}
	}()
	for _, name := range cfg.Caches {
		addr, err := up.listen(name)
		if err != nil {
			return nil, err
		}
		var c *cache
		switch name {
		case "livecdn":
			c, err = startLivecdn(cfg.Binary, addr, cfg.CacheMiB)
		case "nginx":
			nolock, lerr := up.listen("nginx-nolock")
			if lerr != nil {
				return nil, lerr
			}
			c, err = startNginx(tmp, filepath.Join(cfg.Dir, "nginx.conf"), addr, nolock)
		case "varnish":
			c, err = startVarnish(tmp, filepath.Join(cfg.Dir, "varnish.vcl"), addr, cfg.CacheMiB)
		default:
			return nil, fmt.Errorf("unknown cache %q (livecdn, nginx, varnish)", name)
		}
		if err != nil {
			return nil, err
		}
		caches = append(caches, c)
		if err := c.waitUp(ctx, "/live/bench/video/part1.0.m4s"); err != nil {
			return nil, err
		}
	}
	res := &Result{}
	for _, w := range cfg.Workloads {
		for i, c := range caches {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			fmt.Fprintf(cfg.Log, "compare: %s on %s\n", w, c.name)
			before := up.fetches(c.name, "")
			var row Row
			switch w {
			case "segment", "part", "playlist":
				path := map[string]string{"segment": "/live/bench/video/seg100.m4s", "part": "/live/bench/video/part100.0.m4s",
					"playlist": "/live/bench/video/index.m3u8"}[w]
				row, err = closedLoop(c.url, path, cfg.Conns, cfg.Duration)
			case "flash":
				row, err = flash(c.url, fmt.Sprintf("/flash/live/bench/video/seg%d.m4s", 900+i), cfg.FlashN)
			case "llhls":
				row, err = viewers(ctx, c.url, cfg.Viewers, cfg.ViewerDuration)
			default:
				return nil, fmt.Errorf("unknown workload %q", w)
			}
			if err != nil {
				return res, fmt.Errorf("%s on %s: %w", w, c.name, err)
			}
			row.Workload, row.Cache = w, c.name
			row.OriginFetches = up.fetches(c.name, "") - before
			row.RSS = c.rss()
			res.Rows = append(res.Rows, row)
		}
	}
	return res, nil
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closedLoop keeps conns connections busy with GET path for d.
func closedLoop(base, path string, conns int, d time.Duration) (Row, error) {
	hc := client(base, conns)
	// Warm: the object is in the cache before the clock starts.
	if _, err := get(hc, base+path); err != nil {
		return Row{}, err
	}
	var h player.Hist
	var mu sync.Mutex
	var reqs, bytes, errs int64
	end := time.Now().Add(d)
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			var n, b, e int64
			for time.Now().Before(end) {
				t := time.Now()
				size, err := get(hc, base+path)
				if err != nil {
					e++
					continue
				}
				h.Record(time.Since(t))
				n++
				b += int64(size)
			}
			mu.Lock()
			reqs, bytes, errs = reqs+n, bytes+b, errs+e
			mu.Unlock()
		})
	}
	wg.Wait()
	s := h.Snapshot()
	return Row{ReqPerSec: float64(reqs) / d.Seconds(), Gbps: float64(bytes) * 8 / d.Seconds() / 1e9,
		P50: ms(s.Quantile(.5)), P99: ms(s.Quantile(.99)), Errors: errs}, nil
}

// flash sends n first-time requests for one new object at the same instant,
// each on its own warmed keep-alive connection.
func flash(base, path string, n int) (Row, error) {
	hc := client(base, n)
	var warm sync.WaitGroup
	for range n { // open n connections: n requests at once
		warm.Go(func() { _, _ = get(hc, base+"/live/bench/video/part1.0.m4s") })
	}
	warm.Wait()
	var h player.Hist
	var errs int64
	var mu sync.Mutex
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			<-start
			t := time.Now()
			if _, err := get(hc, base+path); err != nil {
				mu.Lock()
				errs++
				mu.Unlock()
				return
			}
			h.Record(time.Since(t))
		})
	}
	begin := time.Now()
	close(start)
	wg.Wait()
	el := time.Since(begin)
	s := h.Snapshot()
	return Row{ReqPerSec: float64(s.N) / el.Seconds(), Gbps: float64(s.N) * (1 << 20) * 8 / el.Seconds() / 1e9,
		P50: ms(s.Quantile(.5)), P99: ms(s.Quantile(.99)), Errors: errs}, nil
}

// viewers runs LL-HLS viewers through the cache.
func viewers(ctx context.Context, base string, n int, d time.Duration) (Row, error) {
	res, err := scenario.Run(ctx, scenario.Config{Scenario: "steady", URLs: []string{base + "/live/llhls/index.m3u8"},
		Viewers: n, Duration: d, Rendition: -1, Delta: true})
	if err != nil {
		return Row{}, err
	}
	s := res.Summary
	return Row{ReqPerSec: s.ReqPerSec, Gbps: s.Gbps, P50: s.PartP50, P99: s.PartP99, Errors: s.Errors, Stalls: s.Stalls}, nil
}

func client(base string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: base[len("http://"):], MaxConns: conns + 16, ReadBufferSize: 16 << 10,
		MaxIdleConnDuration: time.Minute, MaxConnWaitTimeout: 30 * time.Second}
}

var errStatus = errors.New("non-200 answer")

func get(hc *fasthttp.HostClient, u string) (int, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(u)
	if err := hc.DoTimeout(req, resp, 30*time.Second); err != nil {
		return 0, err
	}
	if resp.StatusCode() != 200 {
		return 0, errStatus
	}
	return len(resp.Body()), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Print writes one table per workload with ratios to the first cache.
func (r *Result) Print(w io.Writer) {
	var base Row
	last := ""
	for _, row := range r.Rows {
		if row.Workload != last {
			last, base = row.Workload, row
			fmt.Fprintf(w, "\n%s\n%-8s %10s %8s %9s %9s %7s %8s %6s   %s\n", title(row.Workload), "cache", "req/s", "Gb/s", "p50 ms", "p99 ms", "origin", "RSS MiB", "errors",
				"ratio to "+row.Cache+": req/s, p99, origin, RSS")
		}
		extra := ""
		if row.Workload == "llhls" {
			extra = fmt.Sprintf(" stalls %d", row.Stalls)
		}
		fmt.Fprintf(w, "%-8s %10.0f %8.3f %9.2f %9.2f %7d %8.1f %6d   %s %s %s %s%s\n", row.Cache, row.ReqPerSec, row.Gbps, row.P50, row.P99,
			row.OriginFetches, float64(row.RSS)/(1<<20), row.Errors,
			ratio(row.ReqPerSec, base.ReqPerSec), ratio(row.P99, base.P99), ratio(float64(row.OriginFetches), float64(base.OriginFetches)),
			ratio(float64(row.RSS), float64(base.RSS)), extra)
	}
}

func title(w string) string {
	switch w {
	case "segment":
		return "cached 1 MiB segment, closed loop"
	case "part":
		return "cached 100 KiB part, closed loop"
	case "playlist":
		return "cached 1 KiB playlist (max-age=1), closed loop"
	case "flash":
		return "flash crowd: first-time 1 MiB segment, 100 ms origin, all at once"
	case "llhls":
		return "LL-HLS viewers on a live origin (part latency)"
	}
	return w
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "1.00x"
		}
		return "  -  "
	}
	return fmt.Sprintf("%.2fx", a/b)
}
