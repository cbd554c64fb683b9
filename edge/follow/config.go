package follow

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors returned by Wait. The edge maps them to HTTP answers.
var (
	// ErrTooFar: _HLS_msn is more than two segments past the newest segment
	// of the playlist; rfc8216bis asks for 400 Bad Request.
	ErrTooFar = errors.New("follow: _HLS_msn is more than two segments ahead of the playlist")
	// ErrTimeout: the asked-for part did not appear within the hold timeout
	// (three target durations); rfc8216bis asks for 503.
	ErrTimeout = errors.New("follow: playlist did not advance within the hold timeout")
	// ErrGone: the upstream answered 4xx several times in a row (the stream
	// ended or never existed); the follower stopped. The edge answers 404.
	ErrGone = errors.New("follow: upstream no longer serves the playlist")
	// ErrClosed: the follower was stopped (idle or Registry.Close) while the
	// part was still missing. Get returns a new follower.
	ErrClosed = errors.New("follow: follower stopped")
)

// RequestHeader is the header (value "1") every upstream request of a
// follower carries, so upstream logs can tell follower traffic from viewers.
const RequestHeader = "X-Livecdn-Follow"

// Config holds every tunable of a Registry. Zero fields take the value of
// DefaultConfig.
type Config struct {
	// Idle is how long a follower runs without any Get or Wait (and with no
	// waiter held) before it stops and leaves the registry. Default 10s.
	// Shorter frees the upstream sooner after the last viewer leaves; longer
	// spares a cold first playlist to viewers that come back.
	Idle time.Duration

	// BackoffMin and BackoffMax bound the pause after a failed upstream
	// request; it doubles per consecutive failure. Defaults 100ms and 2s.
	// Short, because viewers are held meanwhile; the last good playlist
	// keeps being served.
	BackoffMin time.Duration
	BackoffMax time.Duration

	// HoldTimeout overrides how long Wait holds a request for a part that
	// does not appear. Default 0: three target durations of the latest
	// playlist, as rfc8216bis 6.2.5.2 asks of servers.
	HoldTimeout time.Duration

	// StartTimeout bounds the first (plain) upstream fetch, and Wait's hold
	// while no playlist is known yet. Default 10s.
	StartTimeout time.Duration

	// FetchTimeout bounds one upstream blocking request. Default 0: four
	// target durations, so an upstream that honours the spec (it holds up to
	// three, then answers 503) answers before the edge gives up on it.
	FetchTimeout time.Duration

	// GoneAfter is the number of consecutive 4xx answers after which the
	// follower stops and fails its waiters with ErrGone. Default 3: one
	// 404 can be a race with the origin starting the stream; three in a row
	// (with backoff between) mean the stream is gone.
	GoneAfter int

	// RetryGone is how long a follower that ended (ErrGone, or EXT-X-ENDLIST)
	// keeps answering from its final state; the first Get after that starts
	// a new one. Default 2s: bounds the upstream requests a crowd of viewers
	// of a dead stream causes, like a short negative cache.
	RetryGone time.Duration

	// MaxBody caps the playlist size read from the upstream. Default 4 MiB.
	MaxBody int64

	// Metrics receives the follower metrics; nil records none.
	Metrics *Metrics
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Idle:         10 * time.Second,
		BackoffMin:   100 * time.Millisecond,
		BackoffMax:   2 * time.Second,
		StartTimeout: 10 * time.Second,
		GoneAfter:    3,
		RetryGone:    2 * time.Second,
		MaxBody:      4 << 20,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Idle <= 0 {
		c.Idle = d.Idle
	}
	if c.BackoffMin <= 0 {
		c.BackoffMin = d.BackoffMin
	}
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = max(d.BackoffMax, c.BackoffMin)
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.GoneAfter <= 0 {
		c.GoneAfter = d.GoneAfter
	}
	if c.RetryGone <= 0 {
		c.RetryGone = d.RetryGone
	}
	if c.MaxBody <= 0 {
		c.MaxBody = d.MaxBody
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	return c
}

// Metrics are the follower's prometheus collectors.
type Metrics struct {
	// UpstreamRequests counts requests sent upstream, by kind: "blocking"
	// (_HLS_msn/_HLS_part) or "plain" (first fetch, polling, recovery).
	UpstreamRequests *prometheus.CounterVec
	// UpstreamErrors counts failed upstream requests (transport errors,
	// non-200 answers, unparsable playlists).
	UpstreamErrors prometheus.Counter
	// Waiters is the number of viewer requests held in Wait.
	Waiters prometheus.Gauge
	// Followers is the number of running followers.
	Followers prometheus.Gauge
}

// NewMetrics creates the collectors and registers them with reg unless reg
// is nil.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		UpstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livecdn_edge_follow_upstream_requests_total",
			Help: "Playlist requests LL-HLS followers sent upstream, by kind (blocking, plain).",
		}, []string{"kind"}),
		UpstreamErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livecdn_edge_follow_upstream_errors_total",
			Help: "Follower upstream requests that failed (transport, non-200, unparsable).",
		}),
		Waiters: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecdn_edge_follow_waiters",
			Help: "Blocking playlist requests held at the edge by followers.",
		}),
		Followers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livecdn_edge_follow_followers",
			Help: "Running LL-HLS followers (one per active media playlist).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.UpstreamRequests, m.UpstreamErrors, m.Waiters, m.Followers)
	}
	return m
}
