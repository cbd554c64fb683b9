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
	tc, ok := conn.(*net.TCPConn)
	if !ok {
		return 0, nil, false
	}
	rc, err := tc.SyscallConn()
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
