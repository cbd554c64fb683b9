package upstream

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// OriginsConfig holds every tunable of an origin list; DefaultOriginsConfig
// documents the defaults, and NewOrigins fills any zero field with them.
type OriginsConfig struct {
	// URLs are the origins' base URLs (scheme, host, optional path prefix),
	// in order of preference: the first is the primary, the rest are backups.
	URLs []string

	// ConnectTimeout bounds the TCP connect (and the TLS handshake, for
	// https). Default 1s: a dead or blackholed primary must cost a viewer at
	// most this long before the backup is asked, and origins sit on a fast
	// network where a healthy connect takes milliseconds.
	ConnectTimeout time.Duration

	// ResponseHeaderTimeout bounds the wait from sending a request to
	// receiving the response headers; the body is never timed, because live
	// bodies stream (chunked CMAF parts arrive as they are encoded). Default
	// 10s: an LL-HLS blocking playlist request (_HLS_msn/_HLS_part) is held by
	// the origin until the part exists, up to about three target durations
	// (6s with 2s segments) before it answers 503, so the timeout must exceed
	// that or every blocking reload would fail over. A shorter value fails
	// over a hung origin sooner; with longer segments raise it above
	// 3 x target duration.
	ResponseHeaderTimeout time.Duration

	// BodyIdleTimeout fails a response body that delivers no byte for this
	// long. Default 5s: live bodies stream, but a growing part or segment
	// gains bytes at least every part (≤ 1s); a stall of 5s is a dead host
	// whose connection never closed.
	BodyIdleTimeout time.Duration

	// HealthInterval is how often every origin's HealthPath is probed.
	// Default 2s; negative disables probing, leaving health to fetch results.
	// Probing faster detects recovery sooner at the cost of origin requests.
	HealthInterval time.Duration
	// HealthPath is the path probed; default "/healthz". Any answer below 500
	// counts as healthy, so an origin without this endpoint (404) still
	// counts as up: only "unreachable" and 5xx mean down.
	HealthPath string
	// HealthTimeout bounds one probe, body included. Default 1s, since a
	// health endpoint answers at once. Rounds of probes never overlap: a slow
	// probe delays the next round.
	HealthTimeout time.Duration

	// Transport carries every request. Nil builds one with NewTransport
	// (ConnectTimeout applies to it); pass one to share a connection pool
	// with other upstreams, in which case its dialer governs connects.
	Transport *http.Transport

	// Logger receives health transitions; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the upstream metrics; none are registered when nil.
	// Collectors already registered on it (another Origins) are reused.
	Registerer prometheus.Registerer
}

// DefaultOriginsConfig returns the defaults: 1s connect, 10s to headers,
// /healthz probed every 2s with a 1s timeout, no URLs.
func DefaultOriginsConfig() OriginsConfig {
	return OriginsConfig{
		ConnectTimeout:        time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		BodyIdleTimeout:       5 * time.Second,
		HealthInterval:        2 * time.Second,
		HealthPath:            "/healthz",
		HealthTimeout:         time.Second,
	}
}

// withDefaults fills the zero fields of c from DefaultOriginsConfig.
func (c OriginsConfig) withDefaults() OriginsConfig {
	d := DefaultOriginsConfig()
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.ResponseHeaderTimeout <= 0 {
		c.ResponseHeaderTimeout = d.ResponseHeaderTimeout
	}
	if c.BodyIdleTimeout == 0 {
		c.BodyIdleTimeout = d.BodyIdleTimeout
	}
	if c.HealthInterval == 0 {
		c.HealthInterval = d.HealthInterval
	}
	if c.HealthPath == "" {
		c.HealthPath = d.HealthPath
	}
	if c.HealthTimeout <= 0 {
		c.HealthTimeout = d.HealthTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// NewTransport returns the HTTP client transport tuned for fetching live
// objects from a few origins at high request rates:
//   - keep-alives with up to 256 idle connections per origin, because a
//     busy edge has hundreds of concurrent misses and blocking reloads per
//     origin, and a new connection per request costs a round trip;
//   - HTTP/1.1 only: one stream per connection means one slow body never
//     holds up another behind HTTP/2 flow control;
//   - DisableCompression, so bytes (and Content-Encoding) pass through
//     untouched instead of being transparently gunzipped;
//   - no proxy from the environment: an edge talks to its origins directly;
//   - connectTimeout bounds the dial and the TLS handshake.
func NewTransport(connectTimeout time.Duration) *http.Transport {
	if connectTimeout <= 0 {
		connectTimeout = DefaultOriginsConfig().ConnectTimeout
	}
	d := &net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}
	var protos http.Protocols
	protos.SetHTTP1(true)
	return &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		TLSHandshakeTimeout: connectTimeout,
		DisableCompression:  true,
		MaxIdleConns:        0, // no global cap; the per-host cap bounds it
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
		ReadBufferSize:      32 << 10, // segments are large: fewer read syscalls
		Protocols:           &protos,
	}
}
