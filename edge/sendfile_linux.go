package edge

import (
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
)

// sendFile sends n bytes of f from off to conn with sendfile(2), at an
// explicit offset so any number of viewers can send from one file at once.
// handled is false when conn is not a plain TCP connection (TLS): the
// caller then copies.
func sendFile(conn net.Conn, f *os.File, off, n int64) (written int64, err error, handled bool) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return 0, nil, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, nil, false
	}
	src := int(f.Fd())
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		for written < n {
			pos := off + written
			m, e := syscall.Sendfile(int(fd), src, &pos, int(min(n-written, 1<<30)))
			if m > 0 {
				written += int64(m)
			}
			switch {
			case e == syscall.EAGAIN:
				return false // the poller waits until the socket is writable (or the write deadline)
			case e == syscall.EINTR:
			case e != nil:
				serr = e
				return true
			case m == 0:
				serr = io.ErrUnexpectedEOF
				return true
			}
		}
		return true
	})
	runtime.KeepAlive(f)
	if err == nil {
		err = serr
	}
	return written, err, true
}

// moreListener hands out moreConns.
type moreListener struct{ *net.TCPListener }

// Accept returns the next connection as a *moreConn.
func (l moreListener) Accept() (net.Conn, error) {
	c, err := l.AcceptTCP()
	if err != nil {
		return nil, err
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return c, nil
	}
	return &moreConn{TCPConn: c, rc: rc}, nil
}

// withMore wraps a plain TCP listener so sendSealed can hold the response
// headers for the file's first bytes; other listeners are returned as they are.
func withMore(ln net.Listener) net.Listener {
	if tl, ok := ln.(*net.TCPListener); ok {
		return moreListener{tl}
	}
	return ln
}

// moreConn is a viewer's TCP connection whose next Write can go out with
// MSG_MORE. A sealed hit is written as headers (one write, flushed by
// fasthttp) then the body by sendfile; with TCP_NODELAY the headers would
// leave as a packet of their own, which costs the sender a transmit and the
// receiver a wakeup per response: a quarter of the edge's CPU on 100 KiB
// parts over loopback (perf). With MSG_MORE the kernel keeps them and sends
// them in the same segment as the file's first bytes; sendfile's last
// piece carries no MORE, so the response is pushed as soon as it is whole.
// Only the handler's goroutine, which also writes the response, touches more.
type moreConn struct {
	*net.TCPConn
	rc   syscall.RawConn
	more bool
}

// holdNext makes the next Write use MSG_MORE (the caller sends the body
// right after it).
func holdNext(c net.Conn) {
	if mc, ok := c.(*moreConn); ok {
		mc.more = true
	}
}

// Write is net.Conn's Write, with MSG_MORE once after holdNext.
func (c *moreConn) Write(p []byte) (int, error) {
	if !c.more {
		return c.TCPConn.Write(p)
	}
	c.more = false
	var n int
	var serr error
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			m, e := syscall.SendmsgN(int(fd), p[n:], nil, nil, syscall.MSG_MORE)
			if m > 0 {
				n += m
			}
			switch {
			case e == syscall.EAGAIN:
				return false
			case e == syscall.EINTR:
			case e != nil:
				serr = e
				return true
			}
		}
		return true
	})
	if err == nil && serr != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: serr}
	}
	return n, err
}
