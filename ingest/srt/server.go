// Package srt is the SRT ingest server: publishers push MPEG-TS over SRT
// (gosrt) with a streamid naming the stream, e.g.
//
//	ffmpeg -re -i in.mp4 -c copy -f mpegts 'srt://host:8890?streamid=publish:live/news:KEY'
//
// Every publisher is authorized through the ingest.Hub inside the SRT
// handshake, so a refused one is rejected with an SRT reject reason before it
// can send any media. Accepted connections are demuxed by ingest/mpegts.
package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/mpegts"
)

// stallTimeout closes a connection whose publisher stops delivering media
// (no stream start, or no unit) while SRT keepalives hold the connection open.
const stallTimeout = 15 * time.Second

// Config configures the SRT server.
type Config struct {
	// Addr is the UDP address to listen on. Default ":8890"; port 0 picks a
	// free port (see Server.Addr).
	Addr string
	// Latency is the receive latency (SRT TSBPD delay). More absorbs more
	// jitter and retransmissions, less lowers the glass-to-glass delay; the
	// larger of this and the publisher's own latency wins. Default 120 ms.
	Latency time.Duration
	// Passphrase, when set, requires publishers to encrypt with it (10 to 80
	// characters); unencrypted publishers are rejected. When empty, encrypted
	// publishers are rejected.
	Passphrase string
	// Logger receives connection events; slog.Default() when nil. gosrt's own
	// handshake and connection errors go to it at debug level.
	Logger *slog.Logger
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{Addr: ":8890", Latency: 120 * time.Millisecond}
}

// Server accepts SRT publishers and feeds their streams into a Hub.
type Server struct {
	cfg Config
	hub *ingest.Hub
	log *slog.Logger
	ln  gosrt.Listener

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New starts listening on cfg.Addr and serves until Close.
func New(cfg Config, hub *ingest.Hub) (*Server, error) {
	def := DefaultConfig()
	if cfg.Addr == "" {
		cfg.Addr = def.Addr
	}
	if cfg.Latency <= 0 {
		cfg.Latency = def.Latency
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if hub == nil {
		return nil, errors.New("srt: nil hub")
	}
	if n := len(cfg.Passphrase); n > 0 && (n < gosrt.MIN_PASSPHRASE_SIZE || n > gosrt.MAX_PASSPHRASE_SIZE) {
		return nil, fmt.Errorf("srt: passphrase must be %d to %d characters", gosrt.MIN_PASSPHRASE_SIZE, gosrt.MAX_PASSPHRASE_SIZE)
	}
	sc := gosrt.DefaultConfig()
	sc.Latency = cfg.Latency
	sc.Logger = &logBridge{log: cfg.Logger}
	ln, err := gosrt.Listen("srt", cfg.Addr, sc)
	if err != nil {
		return nil, fmt.Errorf("srt: listen %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, hub: hub, log: cfg.Logger.With("protocol", "srt"), ln: ln}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.accept()
	s.log.Info("srt listening", "addr", ln.Addr().String())
	return s, nil
}

// Addr returns the UDP address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops accepting, ends every connection (their sessions close) and
// waits for the connection goroutines to finish. It is safe to call more than once.
func (s *Server) Close() {
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		req, err := s.ln.Accept2()
		if err != nil {
			if s.ctx.Err() == nil && !errors.Is(err, gosrt.ErrListenerClosed) {
				s.log.Error("srt listener failed", "err", err)
			}
			return
		}
		// Authorization may call a webhook, so it must not hold up other handshakes.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(req)
		}()
	}
}

// handle decides on one connection request inside the handshake and, once
// accepted, runs the connection.
func (s *Server) handle(req gosrt.ConnRequest) {
	remote := req.RemoteAddr().String()
	log := s.log.With("remote", remote)
	reject := func(reason gosrt.RejectionReason, msg string, err error) {
		log.Warn(msg, "streamid", trunc(req.StreamId()), "reason", uint32(reason), "err", err)
		req.Reject(reason)
	}
	if req.Version() != 5 {
		reject(gosrt.REJX_BAD_REQUEST, "srt publish refused", errors.New("handshake v4 carries no streamid"))
		return
	}
	name, key, err := ParseStreamID(req.StreamId())
	if err != nil {
		reason := gosrt.REJX_BAD_REQUEST
		if errors.Is(err, ErrNotPublish) {
			reason = gosrt.REJX_BAD_MODE
		}
		reject(reason, "srt publish refused", err)
		return
	}
	switch {
	case s.cfg.Passphrase == "" && req.IsEncrypted():
		reject(gosrt.REJ_UNSECURE, "srt publish refused", errors.New("encrypted, but no passphrase is configured"))
		return
	case s.cfg.Passphrase != "" && !req.IsEncrypted():
		reject(gosrt.REJ_UNSECURE, "srt publish refused", errors.New("not encrypted, but a passphrase is required"))
		return
	case s.cfg.Passphrase != "":
		if err := req.SetPassphrase(s.cfg.Passphrase); err != nil {
			reject(gosrt.REJ_BADSECRET, "srt publish refused", errors.New("wrong passphrase"))
			return
		}
	}
	// The hub logs its own refusals.
	sess, err := s.hub.Authorize(s.ctx, ingest.Request{Protocol: "srt", Name: name, Key: key, Remote: remote})
	if err != nil {
		req.Reject(rejectReason(err))
		return
	}
	if s.ctx.Err() != nil {
		sess.Close()
		req.Reject(gosrt.REJ_CLOSE)
		return
	}
	conn, err := req.Accept()
	if err != nil {
		sess.Close()
		log.Warn("srt accept failed", "stream", name, "err", err)
		return
	}
	s.run(conn, sess, log.With("stream", name))
}

// rejectReason maps a hub refusal to the SRT access control reject codes.
func rejectReason(err error) gosrt.RejectionReason {
	switch {
	case errors.Is(err, ingest.ErrUnauthorized):
		return gosrt.REJX_UNAUTHORIZED
	case errors.Is(err, ingest.ErrBusy):
		return gosrt.REJX_CONFLICT
	case errors.Is(err, ingest.ErrBadName):
		return gosrt.REJX_BAD_REQUEST
	case errors.Is(err, ingest.ErrClosed):
		return gosrt.REJ_CLOSE
	default:
		return gosrt.REJX_FORBIDDEN
	}
}

// run demuxes one accepted connection into its session until the publisher
// leaves, the session is kicked, the server closes or the media stalls.
func (s *Server) run(conn gosrt.Conn, sess *ingest.Session, log *slog.Logger) {
	defer sess.Close()
	w := &watched{Session: sess}
	w.touch()
	var why atomic.Value // string: why the server dropped the connection
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(stallTimeout / 15)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-sess.Done():
				why.Store("session ended (taken over or shutting down)")
			case <-s.ctx.Done():
				why.Store("server closing")
			case <-tick.C:
				if time.Since(w.last()) < stallTimeout {
					continue
				}
				why.Store(fmt.Sprintf("no media for %v", stallTimeout))
			}
			conn.Close()
			return
		}
	}()
	log.Info("srt publisher connected")
	err := mpegts.Read(s.ctx, conn, w)
	close(stop)
	conn.Close()
	<-done
	reason, _ := why.Load().(string)
	if reason == "" && errors.Is(err, context.Canceled) {
		reason = "server closing"
	}
	switch {
	case reason != "":
		log.Info("srt publisher disconnected", "reason", reason)
	case err != nil:
		log.Warn("srt publish failed", "err", err)
	default:
		log.Info("srt publisher left")
	}
}

// watched is the session as mpegts sees it, remembering when media last arrived.
type watched struct {
	*ingest.Session
	at atomic.Int64 // unix nanoseconds of the last Start or WriteUnit
}

func (w *watched) touch()          { w.at.Store(time.Now().UnixNano()) }
func (w *watched) last() time.Time { return time.Unix(0, w.at.Load()) }
func (w *watched) Start(t []*ingest.Track) error {
	w.touch()
	return w.Session.Start(t)
}

func (w *watched) WriteUnit(u *ingest.Unit) error {
	w.touch()
	return w.Session.WriteUnit(u)
}

// logBridge passes gosrt's error topics to slog at debug level.
type logBridge struct{ log *slog.Logger }

func (l *logBridge) HasTopic(topic string) bool {
	switch topic {
	case "handshake:recv:error", "connection:error":
		return l.log.Enabled(context.Background(), slog.LevelDebug)
	}
	return false
}

func (l *logBridge) Print(topic string, socketID uint32, _ int, message func() string) {
	if !l.HasTopic(topic) {
		return
	}
	l.log.Debug("gosrt: "+message(), "topic", topic, "socket", socketID)
}

// Listen is part of gosrt.Logger; messages go to slog instead of a channel.
func (l *logBridge) Listen() <-chan gosrt.Log { return nil }

// Close is part of gosrt.Logger.
func (l *logBridge) Close() {}
