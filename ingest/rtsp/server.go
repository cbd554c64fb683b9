// Package rtsp is the RTSP ingest server: publishers push a stream with
// ANNOUNCE/SETUP/RECORD to rtsp://host:8554/live/{stream} and the server hands
// it to an ingest.Hub as access units.
//
// It is built on gortsplib, which owns the RTSP state machine and the RTP
// transports (TCP interleaved always, UDP when UDPAddr is set). This package
// adds what gortsplib leaves to its users: publish authorization through the
// Hub before any media is accepted, turning RTP packets into access units with
// non-wrapping timestamps and decode times, waiting for codec parameters that
// only arrive in-band, and bounding what a misbehaving client can hold on to.
//
// The server only ingests: DESCRIBE and SETUP for playback are refused.
package rtsp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/auth"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"

	"github.com/livecdn/livecdn/ingest"
)

// Config configures a Server. The zero value of every field means its default.
type Config struct {
	// Addr is the TCP address for RTSP requests and TCP-interleaved media.
	// Default ":8554".
	Addr string
	// UDPAddr, when set, also accepts RTP over UDP on this address; its port
	// must be even because RTCP goes to the next port (RTP/RTCP port pairs are
	// fixed by RFC 3550 and gortsplib). Default "" (TCP only: simpler to
	// firewall, and clients such as ffmpeg fall back to TCP on their own).
	UDPAddr string
	// ReadTimeout drops a recording session that sends no RTP or RTCP for this
	// long. Shorter frees a dead publisher's name sooner; longer tolerates
	// stalls in the publisher's network. Default 10s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response to a client. Default 10s.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing while it is not
	// carrying media (a client that connects and waits, or sends garbage
	// slowly). Default 30s.
	IdleTimeout time.Duration
	// StartTimeout bounds the time from an accepted ANNOUNCE until the stream
	// can start: RECORD received and, for video whose parameter sets are not
	// in the SDP, SPS/PPS seen in-band. The name is claimed meanwhile, so this
	// is how long a stalled client can block it. Default 10s.
	StartTimeout time.Duration
	// QueueSize is the number of RTP packets buffered per session between the
	// network and the Hub's sink. Over TCP a full queue slows the publisher
	// down; over UDP the excess is dropped so one slow sink never stalls the
	// shared UDP socket. Default 1024.
	QueueSize int
	// Logger receives connection and publish events; slog.Default() when nil.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration New uses for zero fields.
func DefaultConfig() Config {
	return Config{
		Addr:         ":8554",
		ReadTimeout:  10 * time.Second,
		WriteTimeout: 10 * time.Second,
		IdleTimeout:  30 * time.Second,
		StartTimeout: 10 * time.Second,
		QueueSize:    1024,
		Logger:       slog.Default(),
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = d.StartTimeout
	}
	if c.QueueSize <= 0 {
		c.QueueSize = d.QueueSize
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	return c
}

// udpPair derives the RTP and RTCP addresses from UDPAddr.
func udpPair(addr string) (rtp, rtcp string, err error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("rtsp: UDPAddr %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port >= 65535 || port%2 != 0 {
		return "", "", fmt.Errorf("rtsp: UDPAddr %q: port must be even and in 2-65534 (RTCP uses the next one)", addr)
	}
	return addr, net.JoinHostPort(host, strconv.Itoa(port+1)), nil
}

// Server is a running RTSP ingest server.
type Server struct {
	cfg Config
	hub *ingest.Hub
	log *slog.Logger
	ln  *listener
	srv *gortsplib.Server

	// ctx is cancelled by Close so a webhook call in flight gives up.
	ctx    context.Context
	cancel context.CancelFunc
	// closing is closed by Close; publisher workers watch it.
	closing chan struct{}

	mu      sync.Mutex
	closed  bool
	workers sync.WaitGroup
}

// New starts an RTSP server that publishes into hub. It returns once the TCP
// (and UDP) sockets are bound.
func New(cfg Config, hub *ingest.Hub) (*Server, error) {
	if hub == nil {
		return nil, errors.New("rtsp: nil hub")
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:     cfg,
		hub:     hub,
		log:     cfg.Logger.With("protocol", "rtsp"),
		closing: make(chan struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())

	// Listening here rather than inside gortsplib lets Addr report the port
	// chosen for ":0" and lets the listener add what gortsplib lacks.
	nl, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		s.cancel()
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	s.ln = newListener(nl, cfg.IdleTimeout, s.log)

	s.srv = &gortsplib.Server{
		Handler:      &handler{s: s},
		RTSPAddress:  cfg.Addr,
		ReadTimeout:  cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout,
		// Only Basic: the publish key is the password, and the Hub needs it
		// in clear to check it (Digest would only let us compare against a
		// key we know in advance). It is as exposed as ?key= in the URL.
		AuthMethods: []auth.VerifyMethod{auth.VerifyMethodBasic},
		Listen: func(string, string) (net.Listener, error) {
			return s.ln, nil
		},
	}
	if cfg.UDPAddr != "" {
		rtp, rtcp, err := udpPair(cfg.UDPAddr)
		if err != nil {
			nl.Close()
			s.cancel()
			return nil, err
		}
		s.srv.UDPRTPAddress, s.srv.UDPRTCPAddress = rtp, rtcp
	}
	if err := s.srv.Start(); err != nil {
		nl.Close()
		s.cancel()
		return nil, fmt.Errorf("rtsp: %w", err)
	}
	if cfg.UDPAddr != "" {
		s.log.Info("rtsp listening", "addr", nl.Addr().String(), "udp_rtp", s.srv.UDPRTPAddress, "udp_rtcp", s.srv.UDPRTCPAddress)
	} else {
		s.log.Info("rtsp listening", "addr", nl.Addr().String(), "udp", "off")
	}
	return s, nil
}

// Addr returns the TCP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting connections, ends every publish session (their sinks
// are closed) and waits until all goroutines have returned.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()

	close(s.closing)
	s.cancel()
	s.srv.Close()
	s.workers.Wait()
}

// addWorker registers a publisher goroutine unless the server is closing.
func (s *Server) addWorker() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.workers.Add(1)
	return true
}

// handler receives gortsplib's callbacks. It is a separate type so that the
// callbacks do not become part of Server's exported API.
type handler struct{ s *Server }

var (
	_ gortsplib.ServerHandlerOnConnOpen         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnRequest          = (*handler)(nil)
	_ gortsplib.ServerHandlerOnConnClose        = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSessionClose     = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDescribe         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnAnnounce         = (*handler)(nil)
	_ gortsplib.ServerHandlerOnSetup            = (*handler)(nil)
	_ gortsplib.ServerHandlerOnRecord           = (*handler)(nil)
	_ gortsplib.ServerHandlerOnDecodeError      = (*handler)(nil)
	_ gortsplib.ServerHandlerOnPacketsLost      = (*handler)(nil)
	_ gortsplib.ServerHandlerOnStreamWriteError = (*handler)(nil)
)

func (h *handler) OnConnOpen(ctx *gortsplib.ServerHandlerOnConnOpenCtx) {
	h.s.log.Debug("rtsp connection opened", "remote", ctx.Conn.NetConn().RemoteAddr().String())
}

// OnConnClose logs why a connection ended. Normal ends stay at debug level;
// protocol errors (garbage, malformed requests) are warnings because they are
// the first thing to look at when a publisher "cannot connect".
func (h *handler) OnConnClose(ctx *gortsplib.ServerHandlerOnConnCloseCtx) {
	remote := ctx.Conn.NetConn().RemoteAddr().String()
	err := ctx.Error
	var (
		terminated liberrors.ErrServerTerminated
		authErr    liberrors.ErrServerAuth
		torn       liberrors.ErrServerSessionTornDown
		refused    refusedError
		netErr     net.Error
		opErr      *net.OpError
	)
	switch {
	case errors.As(err, &netErr) && netErr.Timeout():
		h.s.log.Info("rtsp connection timed out", "remote", remote, "err", err)
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.As(err, &opErr),
		errors.As(err, &terminated), errors.As(err, &authErr), errors.As(err, &torn), errors.As(err, &refused):
		// Peers that hang up (EOF, reset) or that we refused are routine.
		h.s.log.Debug("rtsp connection closed", "remote", remote, "reason", err)
	default:
		h.s.log.Warn("rtsp connection closed after protocol error", "remote", remote, "err", err)
	}
}

// OnRequest runs on the connection's goroutine before a request is handled;
// it holds back the TEARDOWN of a UDP publisher until its last packets are in.
func (h *handler) OnRequest(sc *gortsplib.ServerConn, req *base.Request) {
	if req.Method != base.Teardown || sc.Session() == nil {
		return
	}
	if p, ok := sc.Session().UserData().(*publisher); ok && p.udp.Load() {
		p.drainUDP()
	}
}

func (h *handler) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	if p, ok := ctx.Session.UserData().(*publisher); ok {
		p.sessionEnded(ctx.Error)
	}
}

// OnDescribe refuses playback: this server only ingests, viewers use HLS/DASH.
func (h *handler) OnDescribe(*gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	return &base.Response{
		StatusCode:    base.StatusMethodNotAllowed,
		StatusMessage: "Method Not Allowed (publish only: ANNOUNCE/SETUP/RECORD)",
		Header:        base.Header{"Allow": base.HeaderValue{"OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN"}},
	}, nil, nil
}

// OnSetup accepts the SETUPs of an announced publisher and refuses playback.
func (h *handler) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() != gortsplib.ServerSessionStatePreRecord {
		return &base.Response{
			StatusCode:    base.StatusMethodNotAllowed,
			StatusMessage: "Method Not Allowed (publish only: ANNOUNCE/SETUP/RECORD)",
			Header:        base.Header{"Allow": base.HeaderValue{"OPTIONS, ANNOUNCE, SETUP, RECORD, TEARDOWN"}},
		}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, nil, nil
}

func (h *handler) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	p, ok := ctx.Session.UserData().(*publisher)
	if !ok {
		// gortsplib only lets RECORD through after a successful ANNOUNCE,
		// which always sets the publisher; be defensive anyway.
		return &base.Response{StatusCode: base.StatusBadRequest}, errors.New("RECORD without accepted ANNOUNCE")
	}
	udp := ctx.Session.SetuppedTransport() != nil && *ctx.Session.SetuppedTransport() == gortsplib.TransportUDP
	if udp {
		// Media flows outside the control connection now, so its silence
		// is normal; gortsplib's ReadTimeout watches the UDP packets instead.
		if c, ok := ctx.Conn.NetConn().(*idleConn); ok {
			c.exemptFromIdle()
		}
	}
	p.record(ctx.Session, udp)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

func (h *handler) OnDecodeError(ctx *gortsplib.ServerHandlerOnDecodeErrorCtx) {
	if p, ok := ctx.Session.UserData().(*publisher); ok {
		p.noisy("rtp decode error", ctx.Error)
		return
	}
	h.s.log.Debug("rtp decode error", "err", ctx.Error)
}

func (h *handler) OnPacketsLost(ctx *gortsplib.ServerHandlerOnPacketsLostCtx) {
	if p, ok := ctx.Session.UserData().(*publisher); ok {
		p.noisy("rtp packets lost", fmt.Errorf("%d packets", ctx.Lost))
	}
}

func (h *handler) OnStreamWriteError(ctx *gortsplib.ServerHandlerOnStreamWriteErrorCtx) {
	h.s.log.Debug("rtsp write error", "err", ctx.Error)
}
