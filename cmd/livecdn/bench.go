package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/livecdn/livecdn/bench/compare"
	"github.com/livecdn/livecdn/bench/player"
	"github.com/livecdn/livecdn/bench/report"
	"github.com/livecdn/livecdn/bench/scenario"
	"github.com/livecdn/livecdn/bench/sim"
	"github.com/livecdn/livecdn/bench/sut"
	"github.com/livecdn/livecdn/internal/config"
)

// benchCommands are the subcommands of `livecdn bench`.
var benchCommands = []command{
	{"run", "emulated viewers against a deployment (or one the bench starts), with a report", runBenchRun},
	{"sim", "discrete-event model of a large fleet: origin fetches, hit ratios, load spread", runBenchSim},
	{"compare", "the same workloads against livecdn edge, nginx and Varnish, as ratios", runBenchCompare},
}

func runBench(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprintln(stderr, "usage: livecdn bench <run|sim|compare> [flags]")
		for _, c := range benchCommands {
			fmt.Fprintf(stderr, "  %-8s %s\n", c.name, c.summary)
		}
		if len(args) == 0 {
			return usageError{errors.New("missing bench command")}
		}
		return nil
	}
	for _, c := range benchCommands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stderr)
		}
	}
	return usageError{fmt.Errorf("unknown bench command %q (run, sim or compare)", args[0])}
}

// benchRunFlags are the flags of `livecdn bench run`.
type benchRunFlags struct {
	configFile, stream, protocol, reportDir, scenario, cmcd string
	targets                                                 config.List
	viewers, edges, rendition, sources                      int
	duration, part, segment, outage                         time.Duration
	bandwidth                                               bitrate
	churn                                                   float64
	delta, cluster                                          bool
	shields                                                 int
	log                                                     logFlags
}

func (f *benchRunFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.Var(&f.targets, "target", "edge base URL to load, e.g. http://h:8081 (repeatable); none: start origin + --edges edges here")
	fs.StringVar(&f.stream, "stream", "bench", "stream name")
	fs.IntVar(&f.viewers, "viewers", 100, "peak number of emulated viewers")
	fs.DurationVar(&f.duration, "duration", 60*time.Second, "length of the run")
	fs.StringVar(&f.protocol, "protocol", "llhls", "llhls, hls or dash")
	fs.StringVar(&f.scenario, "scenario", "steady", "steady, ramp, flash, churn, edge-kill, origin-outage or abr-stress")
	fs.StringVar(&f.reportDir, "report", "", "directory for bench.json and bench.html (empty: none)")
	fs.IntVar(&f.rendition, "rendition", -1, "fixed rendition index in ascending bandwidth (-1: adapt)")
	fs.Var(&f.bandwidth, "bandwidth", "per-viewer download limit, e.g. 2M (bits/s; 0: none)")
	fs.StringVar(&f.cmcd, "cmcd", "", "send CMCD: query or header (empty: off)")
	fs.BoolVar(&f.delta, "delta", true, "ask for LL-HLS delta playlists (_HLS_skip=YES) when offered")
	fs.Float64Var(&f.churn, "churn", 0.05, "churn scenario: fraction of viewers replaced per second")
	fs.DurationVar(&f.outage, "outage", 3*time.Second, "origin-outage scenario: how long the origin is paused")
	fs.IntVar(&f.edges, "edges", 1, "without --target: edges to start")
	fs.BoolVar(&f.cluster, "cluster", false, "without --target: the edges form one gossip cluster (misses go to each key's owner)")
	fs.IntVar(&f.shields, "shields", 0, "without --target: shield nodes in the cluster (implies --cluster)")
	fs.DurationVar(&f.part, "part", 200*time.Millisecond, "without --target: origin part target")
	fs.DurationVar(&f.segment, "segment", 2*time.Second, "without --target: origin segment target")
	fs.IntVar(&f.sources, "source-addrs", 250, "loopback source addresses to spread connections over (127.0.0.1-N)")
	f.log.register(fs)
}

func runBenchRun(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn bench run", flag.ContinueOnError)
	var f benchRunFlags
	f.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	proto, err := player.ParseProtocol(f.protocol)
	if err != nil {
		return usageError{err}
	}
	switch {
	case f.cmcd != "" && f.cmcd != "query" && f.cmcd != "header":
		return usageError{fmt.Errorf("--cmcd %q: want query or header", f.cmcd)}
	case f.edges < 1 || f.edges > 64:
		return usageError{fmt.Errorf("--edges %d: want 1 to 64", f.edges)}
	case f.shields < 0 || f.shields > 16:
		return usageError{fmt.Errorf("--shields %d: want 0 to 16", f.shields)}
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	// Before the system under test starts: its processes inherit the limit.
	files := sut.RaiseFileLimit()
	cfg := scenario.Config{
		Scenario: f.scenario, Protocol: proto, Viewers: f.viewers, Duration: f.duration,
		Rendition: f.rendition, Bandwidth: int64(f.bandwidth), CMCD: f.cmcd, Delta: f.delta,
		Churn: f.churn, Outage: f.outage, Progress: stderr, TTY: isTTY(stderr), Logger: log,
	}
	if len(f.targets) == 0 {
		bin, err := os.Executable()
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "starting origin and %d edge(s) with the built-in source %q\n", f.edges, f.stream)
		sys, err := sut.Start(ctx, sut.Config{Binary: bin, Stream: f.stream, Edges: f.edges, Part: f.part, Segment: f.segment,
			Cluster: f.cluster, Shields: f.shields})
		if err != nil {
			return err
		}
		defer sys.Close()
		cfg.System = sys
		for _, e := range sys.Edges {
			cfg.URLs = append(cfg.URLs, sys.StreamURL(e.URL, proto == player.DASH))
			cfg.Metrics = append(cfg.Metrics, e.URL)
		}
	} else {
		for _, t := range f.targets {
			t = strings.TrimRight(t, "/")
			name := "/live/" + f.stream + "/index.m3u8"
			if proto == player.DASH {
				name = "/live/" + f.stream + "/manifest.mpd"
			}
			cfg.URLs = append(cfg.URLs, t+name)
			cfg.Metrics = append(cfg.Metrics, t)
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	cfg.Client = player.NewClient(player.ClientConfig{SourceAddrs: f.sources, MaxConnsPerHost: connsPerTarget(files, len(cfg.URLs))})
	if need := uint64(f.viewers) + 1000; files > 0 && files < need {
		fmt.Fprintf(stderr, "descriptor limit %d: fewer connections than viewers, some will wait for one (raising the hard limit needs CAP_SYS_RESOURCE)\n", files)
	}
	res, err := scenario.Run(ctx, cfg)
	if err != nil {
		return err
	}
	s := res.Summary
	fmt.Fprintf(stderr, "%s: %d viewers, %.0f req/s, %.3f Gb/s, part p50 %.2f ms p99 %.2f ms, live latency p50 %.2f s, startup p50 %.0f ms, stalls %d, errors %d, hit ratio %.3f, origin fetches %.0f, %d B/viewer\n",
		res.Scenario, s.PeakViewers, s.ReqPerSec, s.Gbps, s.PartP50, s.PartP99, s.LiveP50/1000, s.StartupP50, s.Stalls, s.Errors, s.HitRatio, s.OriginFetches, s.BytesPerViewer)
	if f.reportDir != "" {
		j, h, err := report.Write(f.reportDir, res)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report: %s %s\n", j, h)
	}
	return nil
}

// connsPerTarget shares the descriptor limit, less 1,000 for everything
// else, between the targets: above it a viewer waits for a connection
// rather than failing to open one.
func connsPerTarget(files uint64, targets int) int {
	if files < 2000 || targets < 1 {
		return 0 // the client's default
	}
	return int(files-1000) / targets
}

// bitrate is a bits-per-second flag: 500k, 2M, 1.5G or a plain number.
type bitrate int64

func (b *bitrate) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *bitrate) Set(s string) error {
	m := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		m, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		m, s = 1e6, s[:len(s)-1]
	case strings.HasSuffix(s, "G"):
		m, s = 1e9, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 {
		return fmt.Errorf("want bits per second like 2M or 500k")
	}
	*b = bitrate(v * m)
	return nil
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runBenchSim(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn bench sim", flag.ContinueOnError)
	d := sim.DefaultConfig()
	var configFile, reportDir, kill, join string
	cache, shieldCache := config.Size(d.CacheBytes), config.Size(d.ShieldCacheBytes)
	fs.StringVar(&configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.IntVar(&d.Viewers, "viewers", d.Viewers, "viewers")
	fs.IntVar(&d.Edges, "edges", d.Edges, "edges at the start")
	fs.IntVar(&d.Shields, "shields", d.Shields, "shield nodes (0: edges fetch from the origin)")
	fs.BoolVar(&d.Cluster, "cluster", d.Cluster, "edges fetch misses from the key's owner edge (cluster/ring)")
	fs.Var(&cache, "cache-size", "cache per edge (0: no cache, no coalescing)")
	fs.Var(&shieldCache, "shield-cache-size", "cache per shield")
	fs.DurationVar(&d.Duration, "duration", d.Duration, "simulated time")
	fs.Float64Var(&d.DVRShare, "dvr", d.DVRShare, "fraction of viewers watching the 30-minute archive")
	fs.Float64Var(&d.LLShare, "ll", d.LLShare, "fraction of live viewers on LL-HLS parts (others: segments)")
	fs.StringVar(&kill, "kill", "40s:10", "edge failures: at:count[,at:count...] (empty: none)")
	fs.StringVar(&join, "join", "80s:10", "edge joins: at:count[,at:count...] (empty: none)")
	fs.StringVar(&reportDir, "report", "", "directory for sim.json (empty: none)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	d.CacheBytes, d.ShieldCacheBytes = int64(cache), int64(shieldCache)
	var err error
	if d.Failures, err = parseChanges(kill); err != nil {
		return usageError{fmt.Errorf("--kill: %v", err)}
	}
	if d.Joins, err = parseChanges(join); err != nil {
		return usageError{fmt.Errorf("--join: %v", err)}
	}
	res, err := sim.Run(d)
	if err != nil {
		return usageError{err}
	}
	sim.Print(stderr, res)
	if reportDir != "" {
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(filepath.Join(reportDir, "sim.json"), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// parseChanges reads "40s:10,80s:5".
func parseChanges(s string) ([]sim.Change, error) {
	var out []sim.Change
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		at, n, ok := strings.Cut(f, ":")
		d, err := time.ParseDuration(at)
		k, err2 := strconv.Atoi(n)
		if !ok || err != nil || err2 != nil || d < 0 || k < 1 {
			return nil, fmt.Errorf("%q: want at:count like 40s:10", f)
		}
		out = append(out, sim.Change{At: d, Edges: k})
	}
	return out, nil
}

func runBenchCompare(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn bench compare", flag.ContinueOnError)
	var cfg compare.Config
	var configFile, reportDir string
	var caches, workloads config.List
	fs.StringVar(&configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.StringVar(&cfg.Dir, "compare-dir", "deploy/compare", "directory with nginx.conf and varnish.vcl")
	fs.Var(&caches, "cache", "cache to compare: livecdn, nginx, varnish (repeatable; default all three)")
	fs.Var(&workloads, "workload", "segment, part, playlist, flash, llhls (repeatable; default all)")
	fs.IntVar(&cfg.Conns, "conns", 200, "connections of the closed-loop workloads")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each closed-loop workload per cache")
	fs.IntVar(&cfg.FlashN, "flash", 500, "flash crowd: first-time requests sent at once")
	fs.DurationVar(&cfg.FlashDelay, "flash-delay", 100*time.Millisecond, "flash crowd: origin delay")
	fs.IntVar(&cfg.Viewers, "viewers", 200, "LL-HLS viewers per cache")
	fs.DurationVar(&cfg.ViewerDuration, "viewer-duration", 20*time.Second, "length of the LL-HLS workload per cache")
	fs.IntVar(&cfg.CacheMiB, "cache-mib", 256, "memory budget of every cache, MiB")
	fs.StringVar(&reportDir, "report", "", "directory for compare.json (empty: none)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if cfg.Conns < 1 || cfg.FlashN < 1 || cfg.Viewers < 0 || cfg.CacheMiB < 1 {
		return usageError{errors.New("--conns, --flash and --cache-mib want at least 1, --viewers at least 0")}
	}
	cfg.Caches, cfg.Workloads, cfg.Log = caches, workloads, stderr
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	cfg.Binary = bin
	sut.RaiseFileLimit()
	res, err := compare.Run(ctx, cfg)
	if res != nil {
		res.Print(os.Stdout)
	}
	if err != nil {
		return err
	}
	if reportDir != "" {
		if err := os.MkdirAll(reportDir, 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(filepath.Join(reportDir, "compare.json"), append(b, '\n'), 0o644)
	}
	return nil
}
