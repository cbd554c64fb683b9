package edge

import (
	"log/slog"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/edge/rules"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/edge/upstream"
)

// Config holds every edge tunable; DefaultConfig documents the defaults.
type Config struct {
	// Addr is the listen address (":8081").
	Addr string
	// Listener, when set, is used instead of listening on Addr (the caller
	// needed the address first, e.g. to announce it to the cluster).
	Listener net.Listener
	// TLSCert and TLSKey, when both set, serve HTTPS.
	TLSCert, TLSKey string
	// CacheSize bounds the cached bytes. More keeps more of the live window
	// and more replay; the process needs about this much plus 64 MiB.
	CacheSize int64
	// Policy holds the fallback TTLs (404s, stale-if-error grace).
	Policy rules.Policy
	// KeepQuery names query parameters that stay in cache keys besides the LL-HLS ones.
	KeepQuery []string
	// Upstream is where misses go. Required.
	Upstream upstream.Upstream
	// Direct is Upstream without the step to peer edges: for requests that
	// came from a peer and for keys this node owns. Nil means Upstream.
	Direct upstream.Upstream
	// ViaPeer reports whether a viewer's miss for path goes to a peer edge
	// (through Upstream); nil means never.
	ViaPeer func(path string) bool
	// Cluster, when set, returns what GET /cluster shows (JSON).
	Cluster func() any
	// OnDrain, when set, is what POST /admin/drain starts: the process
	// leaves the cluster, finishes in-flight responses and exits.
	OnDrain func()
	// AdminToken, when set, is the bearer token /admin/ endpoints require;
	// without it they answer loopback clients only.
	AdminToken string
	// Ready reports upstream health for /readyz; nil means always ready.
	Ready func() bool
	// Signer, when set, requires signed viewer URLs and carries the token
	// into the URIs of every playlist it serves.
	Signer *token.Signer
	// ReadTimeout bounds reading a request (headers included): it is what cuts
	// slowloris connections off. WriteTimeout bounds writing a response; it must
	// cover a held blocking request plus the streaming of a segment in progress.
	// IdleTimeout closes idle keep-alive connections.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; larger requests get 431.
	MaxHeaderBytes int
	// Prefetch bounds the playlist-aware prefetcher.
	Prefetch PrefetchConfig
	// FollowIdle stops an LL-HLS follower whose rendition had no viewers this long.
	FollowIdle time.Duration
	// NodeName is reported in the Via header and logs.
	NodeName string
	// Logger receives edge logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the edge metrics; Gatherer serves /metrics.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// PrefetchConfig bounds prefetching: it must never crowd out viewer requests.
type PrefetchConfig struct {
	// Concurrency is how many prefetches may run at once (0 turns prefetch off).
	Concurrency int
	// MaxBytes is how many prefetched bytes may be in flight at once.
	MaxBytes int64
}

// DefaultConfig returns the defaults: 1 GiB of cache, 6 s stale-if-error,
// 10 s read timeout, 64 KiB of headers, 8 concurrent prefetches.
func DefaultConfig() Config {
	return Config{
		Addr:           ":8081",
		CacheSize:      1 << 30,
		Policy:         rules.DefaultPolicy(),
		ReadTimeout:    10 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 64 << 10,
		Prefetch:       PrefetchConfig{Concurrency: 8, MaxBytes: 64 << 20},
		FollowIdle:     10 * time.Second,
		NodeName:       "edge",
	}
}
