package origin

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

// Config holds every origin tunable; DefaultConfig documents the defaults.
type Config struct {
	// Packaging sets the part and segment targets.
	Packaging cmaf.Config
	// Window is how many complete segments each media playlist lists. A longer
	// window lets players start further back at the cost of memory.
	Window int
	// DataDir keeps per-stream counters (MSN, sessions) across restarts; empty keeps nothing.
	DataDir string
	// Linger is how long a stream whose publisher left stays servable, so
	// players ride out a reconnect; after it the stream is forgotten (404).
	Linger time.Duration
	// BlockTimeout caps how long a blocking playlist request or an early part
	// request is held; rfc8216bis asks for 503 after three target durations.
	// Zero derives it from the segment target.
	BlockTimeout time.Duration
	// Logger receives origin logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the origin metrics; none are registered when nil.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics; /metrics is 404 when nil.
	Gatherer prometheus.Gatherer
	// Archive, when set, receives every completed segment and serves
	// /replay/ and /api/clip/; both are 404 without it.
	Archive *archive.Archive
	// ReplayMax caps the range of one replay playlist.
	ReplayMax time.Duration
	// ClipMax caps the range of one clip, which is read and built in memory.
	ClipMax time.Duration
	// Rewind is how much archived media the live MPD lists before its
	// window (its timeShiftBufferDepth); longer lets DASH players seek
	// further back at the cost of a larger MPD on every reload. 0: none.
	Rewind time.Duration
	// Home is served at "/" (the watch page); 404 when nil.
	Home http.Handler
}

// DefaultConfig returns the defaults: 200 ms parts, 2 s segments, a window of
// 10 segments, idle streams kept for 2 minutes, replay ranges up to a day and
// clips up to an hour, a 10-minute DASH rewind window from the archive.
func DefaultConfig() Config {
	return Config{Packaging: cmaf.DefaultConfig(), Window: 10, Linger: 2 * time.Minute,
		ReplayMax: 24 * time.Hour, ClipMax: time.Hour, Rewind: 10 * time.Minute}
}

// Origin packages published streams and serves them over HTTP. It implements
// ingest.Handler (the input) and http.Handler (the output).
type Origin struct {
	cfg     Config
	log     *slog.Logger
	streams *live.Registry
	state   *live.StateStore
	metrics *metrics
	ready   atomic.Bool
	stop    context.CancelFunc
	done    chan struct{}
}

// New returns a running origin; Close stops its background work.
func New(cfg Config) *Origin {
	d := DefaultConfig()
	if cfg.Packaging.PartTarget == 0 {
		cfg.Packaging = d.Packaging
	}
	if cfg.Window <= 0 {
		cfg.Window = d.Window
	}
	if cfg.Linger <= 0 {
		cfg.Linger = d.Linger
	}
	if cfg.ReplayMax <= 0 {
		cfg.ReplayMax = d.ReplayMax
	}
	if cfg.ClipMax <= 0 {
		cfg.ClipMax = d.ClipMax
	}
	if cfg.BlockTimeout <= 0 {
		cfg.BlockTimeout = 3 * cfg.Packaging.SegmentTarget
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	reg := &live.Registry{Window: cfg.Window}
	if cfg.Archive != nil {
		reg.OnSegment = cfg.Archive.Add
	}
	o := &Origin{
		cfg: cfg, log: log, streams: reg,
		state: &live.StateStore{Dir: cfg.DataDir}, metrics: newMetrics(cfg.Registerer),
		stop: cancel, done: make(chan struct{}),
	}
	o.ready.Store(true)
	go o.expire(ctx)
	return o
}

// expire forgets streams whose publisher has been gone longer than Linger.
func (o *Origin) expire(ctx context.Context) {
	defer close(o.done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			o.streams.Expire(now, o.cfg.Linger)
		}
	}
}

// Drain marks the origin not ready (/readyz answers 503) so load balancers
// stop sending new viewers while existing requests finish.
func (o *Origin) Drain() { o.ready.Store(false) }

// Close stops background work. Publish sessions end through ingest.
func (o *Origin) Close() {
	o.stop()
	<-o.done
}
