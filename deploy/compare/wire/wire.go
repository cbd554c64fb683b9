// Package wire reads HTTP/1.1 responses for the load clients of
// deploy/compare (load, flash) at the least cost to the client: the head
// goes into a small buffer and only the status, Content-Length and one
// named header are looked at; the body is discarded inside the kernel with
// recv(MSG_TRUNC) (Linux), so a 1 MiB body costs the client a few syscalls
// instead of copies. A client that spends less leaves more of a shared box
// to the cache it measures, and adds less of its own time to latencies.
package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"
)

// sink is the buffer recv(MSG_TRUNC) is given: the kernel discards the
// bytes without writing it, so every connection can share it.
var sink = make([]byte, 4<<20)

// maxHead bounds a response head.
const maxHead = 8 << 10

// Conn is one keep-alive client connection.
type Conn struct {
	*net.TCPConn
	rc  syscall.RawConn
	buf []byte
	// Sent is when Get last finished writing its request; FirstByte is
	// when the last response's first bytes were read.
	Sent, FirstByte time.Time
}

// Dial connects to host (host:port) within timeout.
func Dial(host string, timeout time.Duration) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", host, timeout)
	if err != nil {
		return nil, err
	}
	tc := nc.(*net.TCPConn)
	rc, err := tc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{TCPConn: tc, rc: rc, buf: make([]byte, 0, maxHead)}, nil
}

// Response is what Read learned of one response.
type Response struct {
	Status int
	Length int64 // body bytes (Content-Length), all discarded
	Bytes  int64 // head and body bytes received
	Header []byte
	// Close: the server ends the connection after this response
	// (Connection: close, or HTTP/1.0 without keep-alive).
	Close bool
}

// Get sends a GET for path and reads the response. want names a header
// whose value is returned in Response.Header ("" for none).
func (c *Conn) Get(host, path, want string) (Response, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: livecdn-compare\r\n\r\n", path, host); err != nil {
		return Response{}, err
	}
	c.Sent = time.Now()
	return c.Read(want)
}

// Read reads one response: the head into the connection's buffer, then
// discards the body. want is as for Get.
func (c *Conn) Read(want string) (Response, error) {
	c.buf = c.buf[:0]
	c.FirstByte = time.Time{}
	end := -1
	for end < 0 {
		if len(c.buf) == cap(c.buf) {
			return Response{}, fmt.Errorf("response head over %d bytes", maxHead)
		}
		m, err := c.TCPConn.Read(c.buf[len(c.buf):cap(c.buf)])
		if m > 0 && c.FirstByte.IsZero() {
			c.FirstByte = time.Now()
		}
		if m == 0 && err == nil {
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return Response{}, err
		}
		c.buf = c.buf[:len(c.buf)+m]
		end = bytes.Index(c.buf, []byte("\r\n\r\n"))
	}
	r, err := ParseHead(c.buf[:end+2], want)
	if err != nil {
		return Response{}, err
	}
	head := int64(end + 4)
	extra := int64(len(c.buf)) - head
	if extra > r.Length {
		return Response{}, fmt.Errorf("%d bytes after a %d-byte body (this client does not pipeline)", extra-r.Length, r.Length)
	}
	if err := c.discard(r.Length - extra); err != nil {
		return Response{}, err
	}
	r.Bytes = head + r.Length
	return r, nil
}

// discard drops n bytes from the socket with recv(MSG_TRUNC).
func (c *Conn) discard(n int64) error {
	for n > 0 {
		var got int
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			got, _, rerr = syscall.Recvfrom(int(fd), sink[:min(n, int64(len(sink)))], syscall.MSG_TRUNC)
			return rerr != syscall.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		if err != nil {
			return err
		}
		if got == 0 {
			return io.ErrUnexpectedEOF
		}
		n -= int64(got)
	}
	return nil
}

// ParseHead reads the status code, Content-Length and the value of the
// header named want ("" for none) from a response head: the status line
// and header lines, each ending in CRLF. A response with a body must have
// a Content-Length: the caches answer cached objects with one, and chunked
// bodies are not read here.
func ParseHead(h []byte, want string) (Response, error) {
	line, rest, _ := bytes.Cut(h, []byte("\r\n"))
	if !bytes.HasPrefix(line, []byte("HTTP/1.")) || len(line) < 12 || line[8] != ' ' {
		return Response{}, fmt.Errorf("bad status line %q", trunc(line))
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return Response{}, fmt.Errorf("bad status line %q", trunc(line))
	}
	r := Response{Status: status, Length: -1, Close: line[7] == '0'}
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			return Response{}, fmt.Errorf("bad header line %q", trunc(line))
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if r.Length, err = strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err != nil || r.Length < 0 {
				return Response{}, fmt.Errorf("bad Content-Length %q", trunc(value))
			}
		case bytes.EqualFold(name, []byte("Connection")):
			v := bytes.ToLower(value)
			r.Close = bytes.Contains(v, []byte("close")) || (r.Close && !bytes.Contains(v, []byte("keep-alive")))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return Response{}, errors.New("chunked response: this client needs a Content-Length")
		case want != "" && bytes.EqualFold(name, []byte(want)):
			r.Header = bytes.TrimSpace(value)
		}
	}
	if r.Length < 0 {
		if status == 204 || status == 304 || status < 200 {
			r.Length = 0
			return r, nil
		}
		return Response{}, errors.New("response without Content-Length")
	}
	return r, nil
}

func trunc(b []byte) []byte { return b[:min(len(b), 80)] }
