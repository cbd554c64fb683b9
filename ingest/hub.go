package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrBusy is returned when a stream name already has a live publisher and takeover is off.
var ErrBusy = errors.New("stream is already being published")

// ErrClosed is returned once the hub stops accepting publishers.
var ErrClosed = errors.New("ingest is shutting down")

// Request is what a publisher asks for, as a protocol server parsed it.
type Request struct {
	Protocol string
	Name     string
	Key      string
	Remote   string
}

// HubConfig configures a Hub.
type HubConfig struct {
	// Handler receives every accepted stream. Required.
	Handler Handler
	// Keys, when set, requires a matching key for every publish.
	Keys *Keys
	// Webhook, when set, must approve every publish (after the key check).
	Webhook *Webhook
	// Takeover lets a new publisher replace the live one on the same name
	// instead of being refused; useful when encoders reconnect before the
	// server notices that the old connection died.
	Takeover bool
	// Logger receives publish events; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the ingest metrics; none are registered when nil.
	Registerer prometheus.Registerer
}

// Hub authorizes publishers and owns the name → live session table, so the
// one-publisher-per-name rule holds across all protocols.
type Hub struct {
	cfg     HubConfig
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	sessions map[string]*Session
	closed   bool
}

// NewHub returns a hub that hands streams to cfg.Handler.
func NewHub(cfg HubConfig) *Hub {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Hub{cfg: cfg, log: log, metrics: newMetrics(cfg.Registerer), sessions: map[string]*Session{}}
}

// Authorize checks a publisher before any media is read: the name, the key,
// the webhook and the one-publisher rule. On success the name is claimed by
// the returned session until its Close.
func (h *Hub) Authorize(ctx context.Context, req Request) (*Session, error) {
	s, err := h.authorize(ctx, req)
	if err != nil {
		h.metrics.rejected.WithLabelValues(req.Protocol, reason(err)).Inc()
		h.log.Warn("publish refused", "protocol", req.Protocol, "stream", trunc(req.Name), "remote", req.Remote, "err", err)
		return nil, err
	}
	return s, nil
}

func (h *Hub) authorize(ctx context.Context, req Request) (*Session, error) {
	if !ValidName(req.Name) {
		return nil, fmt.Errorf("%w: %q", ErrBadName, trunc(req.Name))
	}
	if h.cfg.Keys != nil {
		if err := h.cfg.Keys.Check(req.Name, req.Key); err != nil {
			return nil, err
		}
	}
	if h.cfg.Webhook != nil {
		if err := h.cfg.Webhook.Approve(ctx, req); err != nil {
			return nil, err
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, ErrClosed
	}
	if old := h.sessions[req.Name]; old != nil {
		if !h.cfg.Takeover {
			return nil, fmt.Errorf("%w: %q is live from %s (%s)", ErrBusy, req.Name, old.req.Remote, old.req.Protocol)
		}
		h.log.Info("publish takeover", "stream", req.Name, "old", old.req.Remote, "new", req.Remote)
		old.kick()
	}
	s := &Session{hub: h, req: req, done: make(chan struct{})}
	h.sessions[req.Name] = s
	return s, nil
}

// Live reports whether name has a session.
func (h *Hub) Live(name string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sessions[name] != nil
}

// Close stops accepting publishers and asks every live session to end. The
// protocol servers then close their connections and the sinks flush.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closed = true
	live := make([]*Session, 0, len(h.sessions))
	for _, s := range h.sessions {
		live = append(live, s)
	}
	h.mu.Unlock()
	for _, s := range live {
		s.kick()
	}
}

func (h *Hub) release(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sessions[s.req.Name] == s {
		delete(h.sessions, s.req.Name)
	}
}

func reason(err error) string {
	switch {
	case errors.Is(err, ErrBadName):
		return "bad_name"
	case errors.Is(err, ErrUnauthorized):
		return "unauthorized"
	case errors.Is(err, ErrBusy):
		return "busy"
	case errors.Is(err, ErrClosed):
		return "closed"
	default:
		return "other"
	}
}

// Session is one authorized publisher. A protocol server calls Start once the
// tracks are known, WriteUnit for every access unit, and Close when the
// connection ends; it also watches Done to drop the connection when the
// session is kicked (takeover, shutdown).
type Session struct {
	hub  *Hub
	req  Request
	sink Sink

	mu       sync.Mutex
	closed   bool
	done     chan struct{}
	kickOnce sync.Once
}

// Request returns what the publisher asked for.
func (s *Session) Request() Request { return s.req }

// Done is closed when the session must end although the publisher is still sending.
func (s *Session) Done() <-chan struct{} { return s.done }

func (s *Session) kick() { s.kickOnce.Do(func() { close(s.done) }) }

// Start hands the stream to the hub's handler. tracks must carry complete codec parameters.
func (s *Session) Start(tracks []*Track) error {
	if len(tracks) == 0 {
		return errors.New("stream has no supported tracks (need H.264/H.265 video or AAC/Opus audio)")
	}
	st := &Stream{Name: s.req.Name, Protocol: s.req.Protocol, Remote: s.req.Remote, Tracks: tracks, Started: time.Now()}
	sink, err := s.hub.cfg.Handler.Publish(st)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sink.Close()
		return ErrClosed
	}
	s.sink = sink
	s.hub.metrics.publishers.WithLabelValues(s.req.Protocol).Inc()
	s.hub.log.Info("publish started", "protocol", s.req.Protocol, "stream", s.req.Name, "remote", s.req.Remote, "tracks", len(tracks))
	return nil
}

// WriteUnit passes one access unit on. It fails once the session is closed.
func (s *Session) WriteUnit(u *Unit) error {
	if u.Received.IsZero() {
		u.Received = time.Now()
	}
	s.mu.Lock()
	sink, closed := s.sink, s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if sink == nil {
		return errors.New("WriteUnit before Start")
	}
	s.hub.metrics.bytes.WithLabelValues(s.req.Protocol).Add(float64(u.Size()))
	return sink.WriteUnit(u)
}

// Close ends the session and frees the stream name. It is safe to call more than once.
func (s *Session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	sink := s.sink
	s.mu.Unlock()
	s.kick()
	if sink != nil {
		sink.Close()
		s.hub.metrics.publishers.WithLabelValues(s.req.Protocol).Dec()
		s.hub.log.Info("publish ended", "protocol", s.req.Protocol, "stream", s.req.Name, "remote", s.req.Remote)
	}
	s.hub.release(s)
}
