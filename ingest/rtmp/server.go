package rtmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/livecdn/livecdn/ingest"
)

// Config configures a Server. The zero value is usable: every field has a default.
type Config struct {
	// Addr is the TCP address to listen on. Default ":1935", the RTMP port
	// every encoder assumes; tests pass "127.0.0.1:0".
	Addr string
	// HandshakeTimeout bounds the network I/O before media flows: the RTMP
	// handshake and the connect and publish commands (the authorization in
	// between is bounded by the hub's webhook timeout instead). It keeps port
	// scanners and half-open clients from holding a goroutine. Default 10s.
	HandshakeTimeout time.Duration
	// ReadTimeout is how long a publisher may stay silent once it is
	// publishing before it is dropped; a dead encoder must free its stream
	// name for the reconnect. Too short drops publishers on a congested
	// uplink. Default 10s.
	ReadTimeout time.Duration
	// Logger receives connection events; slog.Default() when nil.
	Logger *slog.Logger
}

// Defaults that New fills in for zero Config fields.
const (
	DefaultAddr             = ":1935"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 10 * time.Second
)

// DefaultConfig returns a Config with every default spelled out, for callers
// (flags, YAML) that want to show or start from them.
func DefaultConfig() Config {
	return Config{Addr: DefaultAddr, HandshakeTimeout: DefaultHandshakeTimeout, ReadTimeout: DefaultReadTimeout}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server accepts RTMP publishers and hands their streams to a Hub.
type Server struct {
	cfg Config
	hub *ingest.Hub
	log *slog.Logger
	ln  net.Listener

	// ctx is cancelled by Close so that an authorization in flight (a
	// webhook call) does not hold up shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// New listens on cfg.Addr and serves publishers until Close. Accepted streams
// go to hub, which also decides who may publish.
func New(cfg Config, hub *ingest.Hub) (*Server, error) {
	if hub == nil {
		return nil, errors.New("rtmp: nil hub")
	}
	cfg = cfg.withDefaults()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("rtmp: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:    cfg,
		hub:    hub,
		log:    cfg.Logger.With("protocol", "rtmp"),
		ln:     ln,
		ctx:    ctx,
		cancel: cancel,
		conns:  map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	s.log.Info("rtmp server listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the address the server listens on (with the real port when
// Config.Addr asked for port 0).
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, closes every connection (their sessions end, so
// sinks flush) and waits until all connection goroutines have returned.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.cancel()
		_ = s.ln.Close()
		s.mu.Lock()
		s.closed = true
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.log.Info("rtmp server closed")
	})
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and similar conditions pass; spin
			// slowly instead of giving up the port or burning a core
			// (the same policy as net/http).
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Error("rtmp accept failed", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		if !s.track(nc) {
			_ = nc.Close()
			return
		}
		s.wg.Add(1)
		go s.serve(nc)
	}
}

// track registers a connection so that Close can interrupt it; it fails once
// the server is closing.
func (s *Server) track(nc net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[nc] = struct{}{}
	return true
}

func (s *Server) untrack(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, nc)
}
