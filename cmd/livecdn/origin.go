package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/loop"
	"github.com/livecdn/livecdn/ingest/rtmp"
	"github.com/livecdn/livecdn/ingest/rtsp"
	"github.com/livecdn/livecdn/ingest/srt"
	"github.com/livecdn/livecdn/internal/config"
	"github.com/livecdn/livecdn/origin"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/watch"
	"github.com/livecdn/livecdn/transcode"
)

// originFlags are the flags of `livecdn origin` (and the origin part of `demo`).
type originFlags struct {
	configFile                   string
	http, rtmp, rtsp, srt        string
	archive, keysFile, webhook   string
	ladder, srtPassphrase        string
	part, segment, linger, drain time.Duration
	window                       int
	takeover                     bool
	sources                      config.List
	log                          logFlags
	arch                         archiveFlags
	parsedLadder                 *transcode.Ladder
}

func (f *originFlags) register(fs *flag.FlagSet) {
	d := origin.DefaultConfig()
	fs.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.StringVar(&f.http, "http", ":8080", "HTTP listen address for HLS, DASH, the API and metrics")
	fs.StringVar(&f.rtmp, "rtmp", ":1935", "RTMP listen address (empty: off)")
	fs.StringVar(&f.rtsp, "rtsp", ":8554", "RTSP listen address (empty: off)")
	fs.StringVar(&f.srt, "srt", ":8890", "SRT listen address, UDP (empty: off)")
	fs.StringVar(&f.srtPassphrase, "srt-passphrase", "", "require SRT publishers to encrypt with this passphrase (10-80 characters)")
	fs.StringVar(&f.archive, "archive", "./archive", "archive: a directory (stream counters, index, every segment) or s3://bucket/prefix (see --archive-spool); empty: none")
	fs.StringVar(&f.keysFile, "keys-file", "", "YAML publish keys (streams: {name: key}, default: key); empty: any name may publish")
	fs.StringVar(&f.webhook, "webhook", "", "URL that must approve each publish (POST JSON, 2xx = yes)")
	fs.BoolVar(&f.takeover, "takeover", false, "let a new publisher replace the live one on the same name")
	fs.StringVar(&f.ladder, "ladder", "passthrough", "ABR ladder: passthrough, default (source + 720p/480p/360p/240p), or a YAML file")
	fs.DurationVar(&f.part, "part", d.Packaging.PartTarget, "LL-HLS part target duration")
	fs.DurationVar(&f.segment, "segment", d.Packaging.SegmentTarget, "segment target duration (segments end at the next keyframe)")
	fs.IntVar(&f.window, "window", d.Window, "segments in the live window of each playlist")
	fs.DurationVar(&f.linger, "linger", d.Linger, "how long a stream stays servable after its publisher left")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "on SIGTERM, how long in-flight HTTP requests may finish")
	fs.Var(&f.sources, "source", "built-in source to publish, loop:{stream} (the demo clip, looped); repeatable")
	f.log.register(fs)
	f.arch.register(fs)
}

func (f *originFlags) validate() error {
	switch {
	case f.part < 50*time.Millisecond || f.part > 2*time.Second:
		return usageError{fmt.Errorf("--part %v: want 50ms to 2s", f.part)}
	case f.segment < f.part || f.segment > 30*time.Second:
		return usageError{fmt.Errorf("--segment %v: want at least --part and at most 30s", f.segment)}
	case f.window < 3 || f.window > 1000:
		return usageError{fmt.Errorf("--window %d: want 3 to 1000", f.window)}
	}
	if err := f.arch.validate(f.archive); err != nil {
		return err
	}
	for _, src := range f.sources {
		if name, ok := strings.CutPrefix(src, "loop:"); !ok || !ingest.ValidName(name) {
			return usageError{fmt.Errorf("--source %q: want loop:{stream} with a valid stream name", src)}
		}
	}
	ladder, err := transcode.LoadLadder(f.ladder)
	if err != nil {
		return usageError{fmt.Errorf("--ladder: %v", err)}
	}
	f.parsedLadder = ladder
	return nil
}

func runOrigin(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn origin", flag.ContinueOnError)
	var f originFlags
	f.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	st, err := startOrigin(f, log, nil)
	if err != nil {
		return err
	}
	// Built-in sources (benchmarks, smoke tests) publish like any publisher:
	// through the hub, so keys and the ladder apply to them too.
	srcCtx, stopSources := context.WithCancel(ctx)
	var sources sync.WaitGroup
	for _, src := range f.sources {
		name := strings.TrimPrefix(src, "loop:")
		sources.Go(func() {
			if err := loop.Run(srcCtx, st.hub, name); err != nil {
				log.Error("built-in source stopped", "stream", name, "err", err)
			}
		})
	}
	<-ctx.Done()
	stopSources()
	sources.Wait() // each source's session is closed: its last part is flushed
	return st.shutdown(f.drain)
}

func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s [flags]\n\nflags (also --config YAML keys and LIVECDN_<FLAG> variables; flags win):\n", fs.Name())
		fs.PrintDefaults()
	}
	err := config.Parse(fs, args, stderr)
	if err != nil && !errors.Is(err, config.ErrHelp) {
		return usageError{err}
	}
	return err
}

// originStack is a running origin with its ingest servers and HTTP listener.
type originStack struct {
	log        *slog.Logger
	hub        *ingest.Hub
	transcoder *transcode.Transcoder // nil for a passthrough ladder
	origin     *origin.Origin
	archive    *archive.Archive // nil without --archive
	closers    []func()
	http       *http.Server
	httpLn     net.Listener
	served     chan error
}

// startOrigin starts everything `livecdn origin` runs. extra, when set, is
// served in front of the origin's handler (the demo adds nothing today).
func startOrigin(f originFlags, log *slog.Logger, home http.Handler) (*originStack, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ocfg := origin.DefaultConfig()
	ocfg.Packaging.PartTarget, ocfg.Packaging.SegmentTarget = f.part, f.segment
	arch, dataDir, err := openArchive(f.archive, f.arch, log, reg)
	if err != nil {
		return nil, err
	}
	ocfg.Window, ocfg.Linger, ocfg.DataDir = f.window, f.linger, dataDir
	ocfg.Archive, ocfg.ReplayMax, ocfg.ClipMax, ocfg.Rewind = arch, f.arch.replayMax, f.arch.clipMax, f.arch.rewind
	ocfg.Logger, ocfg.Registerer, ocfg.Gatherer = log, reg, reg
	ocfg.Home = home
	if ocfg.Home == nil {
		ocfg.Home = watch.Handler("")
	}
	s := &originStack{log: log, origin: origin.New(ocfg), archive: arch, served: make(chan error, 1)}

	var handler ingest.Handler = s.origin
	if f.parsedLadder != nil && !f.parsedLadder.Passthrough() {
		tcfg := transcode.Config{Ladder: f.parsedLadder, SegmentTarget: f.segment, Logger: log, Registerer: reg}
		s.transcoder = transcode.New(tcfg, s.origin)
		handler = s.transcoder
	}
	hcfg := ingest.HubConfig{Handler: handler, Takeover: f.takeover, Logger: log, Registerer: reg}
	if f.keysFile != "" {
		keys, err := ingest.LoadKeys(f.keysFile)
		if err != nil {
			s.close()
			return nil, usageError{err}
		}
		hcfg.Keys = keys
	}
	if f.webhook != "" {
		hcfg.Webhook = &ingest.Webhook{URL: f.webhook}
	}
	s.hub = ingest.NewHub(hcfg)

	if err := s.startIngest(f, log); err != nil {
		s.close()
		return nil, err
	}
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("http: %w", err)
	}
	s.httpLn = ln
	s.http = &http.Server{
		Handler:           s.origin,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	log.Info("origin listening", "http", ln.Addr().String(), "rtmp", f.rtmp, "rtsp", f.rtsp, "srt", f.srt,
		"part", f.part, "segment", f.segment, "window", f.window, "keys", f.keysFile != "")
	return s, nil
}

func (s *originStack) startIngest(f originFlags, log *slog.Logger) error {
	if f.rtmp != "" {
		srv, err := rtmp.New(rtmp.Config{Addr: f.rtmp, Logger: log}, s.hub)
		if err != nil {
			return fmt.Errorf("rtmp: %w", err)
		}
		s.closers = append(s.closers, srv.Close)
	}
	if f.rtsp != "" {
		cfg := rtsp.DefaultConfig()
		cfg.Addr, cfg.Logger = f.rtsp, log
		srv, err := rtsp.New(cfg, s.hub)
		if err != nil {
			return fmt.Errorf("rtsp: %w", err)
		}
		s.closers = append(s.closers, srv.Close)
	}
	if f.srt != "" {
		cfg := srt.DefaultConfig()
		cfg.Addr, cfg.Passphrase, cfg.Logger = f.srt, f.srtPassphrase, log
		srv, err := srt.New(cfg, s.hub)
		if err != nil {
			return fmt.Errorf("srt: %w", err)
		}
		s.closers = append(s.closers, srv.Close)
	}
	return nil
}

// close stops the ingest servers (each waits for its publishers' sessions
// to end, which flushes their last parts) and then the origin.
func (s *originStack) close() {
	s.closeIngest()
	s.origin.Close()
	s.closeArchive()
}

// closeArchive writes the segments still queued; it runs after the
// publishers' sessions ended, so their last segments are among them.
func (s *originStack) closeArchive() {
	if s.archive != nil {
		s.archive.Close()
		s.archive = nil
	}
}

func (s *originStack) closeIngest() {
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
	s.closers = nil
	if s.transcoder != nil {
		s.transcoder.Close() // every ffmpeg ends with the publishers
		s.transcoder = nil
	}
}

// shutdown drains: /readyz turns 503, publishers are told to stop and their
// current parts are finished and stay servable, then HTTP finishes in-flight
// requests for up to drain, then everything closes.
func (s *originStack) shutdown(drain time.Duration) error {
	s.log.Info("shutting down: draining")
	s.origin.Drain()
	s.hub.Close()
	s.closeIngest()
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := s.http.Shutdown(ctx)
	s.origin.Close()
	s.closeArchive()
	if errors.Is(err, context.DeadlineExceeded) {
		s.log.Warn("drain timed out; closing remaining connections")
		_ = s.http.Close()
		err = nil
	}
	s.log.Info("stopped")
	return err
}
