package rtmp

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/livecdn/livecdn/ingest"
)

// Reasons a connection ends, so that the one log line per connection can say
// why at the right level.
var (
	errHandshake  = errors.New("handshake or connect failed")
	errProtocol   = errors.New("protocol error")
	errPlay       = errors.New("play refused: this server only accepts publishers")
	errRefused    = errors.New("publish refused")
	errKicked     = errors.New("session ended by the hub (takeover or shutdown)")
	errServerDown = errors.New("server closing")
)

// conn is one client connection; serve's goroutine owns all of its fields.
type conn struct {
	s      *Server
	nc     *deadlineConn
	remote string
	log    *slog.Logger

	sess *ingest.Session
	// werr is the first error of sess.WriteUnit. gortmplib's data callbacks
	// cannot return errors, so the read loop checks it after every message.
	werr error
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer s.untrack(raw)
	defer raw.Close()
	c := &conn{s: s, nc: &deadlineConn{Conn: raw}, remote: raw.RemoteAddr().String()}
	c.log = s.log.With("remote", c.remote)
	// The bytes on this port are untrusted; a parser bug triggered by one
	// client must cost that client its connection, not every publisher
	// their stream (net/http makes the same choice).
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("rtmp connection panicked; closed it", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	c.logEnd(c.run())
}

func (c *conn) run() error {
	cfg := c.s.cfg
	// One absolute deadline for everything before media: a client that
	// trickles handshake bytes cannot hold the goroutine for long.
	_ = c.nc.SetDeadline(time.Now().Add(cfg.HandshakeTimeout))

	sc := &gortmplib.ServerConn{RW: c.nc}
	if err := sc.Initialize(); err != nil {
		return fmt.Errorf("%w: %w", errHandshake, err)
	}
	if err := sc.AcceptConn(); err != nil {
		return fmt.Errorf("%w: before publish: %w", errProtocol, err)
	}
	if !sc.Publish {
		c.reject(sc, "NetStream.Play.Failed", "this server only accepts publishers")
		return errPlay
	}

	name, key, err := ingest.ParsePublishPath(publishPath(sc.URL))
	if err != nil {
		c.reject(sc, "NetStream.Publish.BadName", "use rtmp://host/live/{stream} with a name of A-Z a-z 0-9 _ -")
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	c.log = c.log.With("stream", name)
	sess, err := c.s.hub.Authorize(c.s.ctx, ingest.Request{Protocol: "rtmp", Name: name, Key: key, Remote: c.remote})
	if err != nil {
		code, desc := refusal(err)
		c.reject(sc, code, desc)
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	c.sess = sess
	defer sess.Close()
	defer c.closeOnKick(sess)()

	// From here on only silence drops a publisher: every read and write
	// pushes the deadline forward.
	_ = c.nc.SetDeadline(time.Time{})
	c.nc.idle = cfg.ReadTimeout

	// Initialize sends NetStream.Publish.Start, then buffers the first
	// seconds of media to discover the tracks and replays them to Read.
	r := &gortmplib.Reader{Conn: sc}
	if err := r.Initialize(); err != nil {
		return c.classify(fmt.Errorf("reading tracks: %w", err))
	}
	tracks, err := c.setupTracks(r)
	if err != nil {
		return err
	}
	if err := sess.Start(tracks); err != nil {
		return fmt.Errorf("%w: %w", errRefused, err)
	}
	for {
		if err := r.Read(); err != nil {
			return c.classify(err)
		}
		if c.werr != nil {
			return c.classify(c.werr)
		}
	}
}

// closeOnKick closes the connection when the hub ends the session (a
// takeover or shutdown) while we are blocked reading; the returned func
// stops the watcher.
func (c *conn) closeOnKick(sess *ingest.Session) (stop func()) {
	done := make(chan struct{})
	c.s.wg.Add(1)
	go func() {
		defer c.s.wg.Done()
		select {
		case <-sess.Done():
			_ = c.nc.Close()
		case <-done:
		}
	}()
	return func() { close(done) }
}

// classify turns a read error into the reason the connection ended: a read
// fails with "use of closed connection" both when we were kicked and when the
// server closes, which would otherwise look like a protocol error.
func (c *conn) classify(err error) error {
	if c.sess != nil {
		select {
		case <-c.sess.Done():
			return errKicked
		default:
		}
	}
	if c.s.ctx.Err() != nil {
		return errServerDown
	}
	return err
}

// write hands one unit to the session, remembering the first failure.
func (c *conn) write(u *ingest.Unit) {
	if c.werr != nil {
		return
	}
	if err := c.sess.WriteUnit(u); err != nil {
		c.werr = fmt.Errorf("session refused unit: %w", err)
	}
}

// refusal maps a hub error to the RTMP status sent to the client. The
// descriptions are fixed strings: hub errors may name the other publisher's
// address, which a stranger must not learn.
func refusal(err error) (code, desc string) {
	switch {
	case errors.Is(err, ingest.ErrUnauthorized):
		return "NetStream.Publish.Unauthorized", "publish not authorized: missing or wrong key"
	case errors.Is(err, ingest.ErrBusy):
		return "NetStream.Publish.BadName", "stream is already being published"
	case errors.Is(err, ingest.ErrBadName):
		return "NetStream.Publish.BadName", "invalid stream name"
	case errors.Is(err, ingest.ErrClosed):
		return "NetStream.Publish.Failed", "server is shutting down"
	default:
		return "NetStream.Publish.Failed", "publish refused"
	}
}

// reject sends an error status so the encoder reports why (ffmpeg prints
// "Server error: <desc>" and exits non-zero) instead of a bare disconnect.
// gortmplib's RejectAction always says "authentication failed", which would
// mislead someone whose stream name is merely busy, hence our own message.
func (c *conn) reject(sc *gortmplib.ServerConn, code, desc string) {
	err := sc.Write(&message.CommandAMF0{
		ChunkStreamID: 5,
		// gortmplib's own onStatus messages use this value for stream 1.
		MessageStreamID: 0x1000000,
		Name:            "onStatus",
		Arguments: []any{
			nil,
			amf0.Object{
				{Key: "level", Value: "error"},
				{Key: "code", Value: code},
				{Key: "description", Value: desc},
			},
		},
	})
	if err != nil {
		return
	}
	c.nc.linger()
}

// logEnd writes the one line that says why a connection ended.
func (c *conn) logEnd(err error) {
	var ne net.Error
	switch {
	case err == nil:
		c.log.Info("rtmp connection closed")
	case errors.Is(err, errHandshake):
		c.log.Warn("rtmp connection closed: bad handshake or connect (not an RTMP client?)", "err", err)
	case errors.Is(err, errPlay):
		c.log.Warn("rtmp play refused: this server only ingests; watch over HLS/DASH")
	case errors.Is(err, ingest.ErrBadName):
		// Refused before the hub saw it, so this is the only line about it.
		c.log.Warn("rtmp publish refused: bad stream path", "err", err)
	case errors.Is(err, errRefused):
		// The hub already logged the reason at Warn for its own refusals.
		c.log.Info("rtmp connection closed: publish refused", "err", err)
	case errors.Is(err, errKicked):
		c.log.Info("rtmp publisher dropped: session ended (takeover or shutdown)")
	case errors.Is(err, errServerDown):
		c.log.Info("rtmp connection closed: server shutting down")
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
		c.log.Info("rtmp publisher disconnected")
	case errors.As(err, &ne) && ne.Timeout():
		c.log.Warn("rtmp publisher dropped: silent too long", "timeout", c.s.cfg.ReadTimeout, "err", err)
	default:
		c.log.Warn("rtmp connection closed: protocol error", "err", err)
	}
}

// deadlineConn pushes the deadlines forward on every read and write once idle
// is set, so that a long stream is fine and only silence times out.
type deadlineConn struct {
	net.Conn
	// idle is the allowed silence; 0 leaves the deadline alone. Only the
	// connection goroutine touches it.
	idle time.Duration
}

func (c *deadlineConn) Read(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(p)
}

func (c *deadlineConn) Write(p []byte) (int, error) {
	if c.idle > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Write(p)
}

// linger half-closes the connection and drains what the client still sends
// for a moment. Closing a socket with unread input sends a TCP reset, and a
// reset can destroy the error status we just wrote before the client reads it.
func (c *deadlineConn) linger() {
	cw, ok := c.Conn.(interface{ CloseWrite() error })
	if !ok {
		return
	}
	_ = cw.CloseWrite()
	_ = c.Conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, io.LimitReader(c.Conn, 1<<20))
}
