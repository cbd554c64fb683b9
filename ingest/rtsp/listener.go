package rtsp

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// listener hardens the TCP listener that gortsplib accepts from.
//
// gortsplib stops the whole server on the first Accept error, so a burst of
// EMFILE (too many open files) would end ingest for good; this listener
// retries transient errors with backoff the way net/http does. It also wraps
// every connection in an idleConn.
type listener struct {
	net.Listener
	idle time.Duration
	log  *slog.Logger

	closeOnce sync.Once
	closed    chan struct{}
}

func newListener(l net.Listener, idle time.Duration, log *slog.Logger) *listener {
	return &listener{Listener: l, idle: idle, log: log, closed: make(chan struct{})}
}

func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err == nil {
			return newIdleConn(c, l.idle), nil
		}
		select {
		case <-l.closed:
			return nil, err
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if delay == 0 {
			delay = 5 * time.Millisecond
		} else if delay *= 2; delay > time.Second {
			delay = time.Second
		}
		l.log.Warn("rtsp accept failed; retrying", "err", err, "delay", delay)
		select {
		case <-time.After(delay):
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
}

func (l *listener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return l.Listener.Close()
}

// idleConn closes connections that send nothing for too long while no media
// deadline is active.
//
// gortsplib clears the read deadline while it waits for RTSP requests, so
// without this a client could connect (or send half a request) and hold a
// socket and goroutines forever. While a TCP publisher records, gortsplib sets
// its own ReadTimeout deadline, which this wrapper leaves alone.
type idleConn struct {
	net.Conn
	idle time.Duration
	// auto is true while gortsplib wants no deadline: each Read then re-arms
	// the idle deadline.
	auto atomic.Bool
	// exempt is set once the session records over UDP: the control
	// connection is legitimately silent then.
	exempt atomic.Bool
}

func newIdleConn(c net.Conn, idle time.Duration) *idleConn {
	ic := &idleConn{Conn: c, idle: idle}
	ic.auto.Store(true)
	return ic
}

func (c *idleConn) Read(p []byte) (int, error) {
	if c.auto.Load() && !c.exempt.Load() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.idle))
	}
	return c.Conn.Read(p)
}

// exemptFromIdle turns the idle timeout off for good. The deadline armed by
// the last Read is cleared too, or it would still fire.
func (c *idleConn) exemptFromIdle() {
	c.exempt.Store(true)
	if c.auto.Load() {
		_ = c.Conn.SetReadDeadline(time.Time{})
	}
}

func (c *idleConn) SetReadDeadline(t time.Time) error {
	c.auto.Store(t.IsZero())
	return c.Conn.SetReadDeadline(t)
}

func (c *idleConn) SetDeadline(t time.Time) error {
	c.auto.Store(t.IsZero())
	return c.Conn.SetDeadline(t)
}
