package player

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The emulator's HTTP/1.1 wire format: a GET request, and a response reader
// for only what a GET from a CDN edge needs (status, Content-Length,
// chunked, close-delimited bodies, Connection: close), over a bufio.Reader
// borrowed from a pool once the first byte of the response is there.
// Keeping it this small is what keeps a waiting viewer small (see Client).

// send writes the request.
func (cl *Client) send(c *conn, deadline time.Time, host, path string, hdr []string) error {
	if err := c.nc.SetDeadline(deadline); err != nil {
		return err
	}
	bp, _ := cl.writeBufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	b := append((*bp)[:0], "GET "...)
	b = append(b, path...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\nUser-Agent: livecdn-bench\r\n"...)
	for i := 0; i+1 < len(hdr); i += 2 {
		b = append(b, hdr[i]...)
		b = append(b, ": "...)
		b = append(b, hdr[i+1]...)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	_, err := c.nc.Write(b)
	*bp = b
	cl.writeBufs.Put(bp)
	return err
}

// retryable is an error of a connection closed under the request.
func retryable(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// splitURL parses an http:// URL into the dial address, the Host header
// and the request target.
func splitURL(u string) (addr, host, path string, err error) {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		return "", "", "", fmt.Errorf("URL %q: only http:// is supported", u)
	}
	host, path = rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		host, path = rest[:i], rest[i:]
		if path[0] == '?' {
			path = "/" + path
		}
	}
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	if host == "" {
		return "", "", "", fmt.Errorf("URL %q: no host", u)
	}
	addr = host
	if _, _, err := net.SplitHostPort(host); err != nil {
		addr = net.JoinHostPort(strings.Trim(host, "[]"), "80")
	}
	return addr, host, path, nil
}

// Limits on what a response may hold.
const (
	// maxHeaderBytes bounds the status line and header fields together.
	maxHeaderBytes = 64 << 10
	// maxKeptBody bounds a body the viewer keeps (playlists, MPDs).
	maxKeptBody = 16 << 20
)

// respHead is what the client needs from a response header.
type respHead struct {
	status  int
	length  int64 // Content-Length, -1 when absent
	chunked bool
	close   bool // the connection ends with this response
}

var (
	errHeaderTooBig = fmt.Errorf("response header over %d bytes", maxHeaderBytes)
	errBodyTooBig   = fmt.Errorf("response body over %d bytes", maxKeptBody)
	errMalformed    = errors.New("malformed HTTP response")
)

// readHead reads one response's status line and header fields, skipping
// interim 1xx responses.
func readHead(br *bufio.Reader) (respHead, error) {
	for {
		h, err := readOneHead(br)
		if err != nil || h.status >= 200 || h.status == 101 {
			return h, err
		}
	}
}

func readOneHead(br *bufio.Reader) (respHead, error) {
	h := respHead{length: -1}
	total := 0
	line, err := readLine(br, &total)
	if err != nil {
		return h, err
	}
	// HTTP/1.x SP 3DIGIT [SP reason]
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' ||
		(len(line) > 12 && line[12] != ' ') {
		return h, malformed("status line", line)
	}
	minor := line[7]
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return h, malformed("status line", line)
		}
		h.status = h.status*10 + int(c-'0')
	}
	if h.status < 100 {
		return h, malformed("status", line)
	}
	keepAlive := minor != '0' // HTTP/1.0 closes unless it says keep-alive
	h.close = !keepAlive
	for {
		line, err := readLine(br, &total)
		if err != nil {
			return h, err
		}
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return h, malformed("header line", line)
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (h.length >= 0 && h.length != n) {
				return h, malformed("Content-Length", value)
			}
			h.length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) && !bytes.EqualFold(value, []byte("identity")) {
				return h, malformed("Transfer-Encoding", value)
			}
			h.chunked = h.chunked || bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			for len(value) > 0 {
				tok, rest, _ := bytes.Cut(value, []byte(","))
				tok, value = bytes.TrimSpace(tok), rest
				if bytes.EqualFold(tok, []byte("close")) {
					h.close = true
				} else if bytes.EqualFold(tok, []byte("keep-alive")) && minor == '0' {
					h.close = false
				}
			}
		}
	}
	if h.chunked {
		h.length = -1 // chunked wins over a length (RFC 9112 6.3)
	}
	if h.status == 101 {
		return h, malformed("unexpected status", []byte("101"))
	}
	if !h.chunked && h.length < 0 && h.hasBody() {
		h.close = true // the body runs to the end of the connection
	}
	return h, nil
}

// hasBody says whether a body follows the header (GET responses).
func (h *respHead) hasBody() bool {
	return h.status >= 200 && h.status != 204 && h.status != 304
}

// readLine returns one header line without its CRLF (or LF), adding its
// length to *total; the line is valid until the next read from br.
func readLine(br *bufio.Reader, total *int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*total += len(line)
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, lineTooLong(br.Size())
	case err == io.EOF && *total > len(line):
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	case *total > maxHeaderBytes:
		return nil, errHeaderTooBig
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// readBody reads the body that h announces: into *keep (appended) when keep
// is not nil, otherwise discarded. It returns the body's length.
func readBody(br *bufio.Reader, h *respHead, keep *[]byte) (int64, error) {
	switch {
	case !h.hasBody():
		return 0, nil
	case h.chunked:
		return readChunked(br, keep)
	case h.length >= 0:
		return copyN(br, h.length, keep)
	}
	return copyN(br, -1, keep)
}

// copyN moves n bytes (to EOF when n < 0) from br to *keep or nowhere.
func copyN(br *bufio.Reader, n int64, keep *[]byte) (int64, error) {
	if keep == nil {
		// io.Discard reads through a shared pool of its own buffers, and
		// bufio hands large reads straight to the connection.
		if n < 0 {
			n = 1<<63 - 1
		}
		lr := io.LimitedReader{R: br, N: n}
		got, err := io.Discard.(io.ReaderFrom).ReadFrom(&lr)
		if err == nil && lr.N > 0 && n != 1<<63-1 {
			err = io.ErrUnexpectedEOF
		}
		return got, err
	}
	var got int64
	for n < 0 || got < n {
		b, err := br.Peek(1)
		if len(b) == 0 {
			if err == io.EOF && n < 0 {
				return got, nil
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return got, err
		}
		// Everything buffered, up to what is still owed.
		avail := int64(br.Buffered())
		if n >= 0 {
			avail = min(avail, n-got)
		}
		b, _ = br.Peek(int(avail))
		if int64(len(*keep))+avail > maxKeptBody {
			return got, errBodyTooBig
		}
		*keep = append(*keep, b...)
		_, _ = br.Discard(len(b))
		got += avail
	}
	return got, nil
}

// readChunked decodes a chunked body (RFC 9112 7.1), trailers skipped.
func readChunked(br *bufio.Reader, keep *[]byte) (int64, error) {
	var got int64
	for {
		total := 0 // each chunk-size line, and the trailers, bounded like a header
		line, err := readLine(br, &total)
		if err != nil {
			return got, eofUnexpected(err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 || len(line) > 15 {
			return got, malformed("chunk size", line)
		}
		size, err := strconv.ParseInt(string(line), 16, 64)
		if err != nil || size < 0 {
			return got, malformed("chunk size", line)
		}
		if size == 0 {
			for {
				tr, err := readLine(br, &total)
				if err != nil {
					return got, eofUnexpected(err)
				}
				if len(tr) == 0 {
					return got, nil
				}
			}
		}
		n, err := copyN(br, size, keep)
		got += n
		if err != nil {
			return got, err
		}
		total = 0
		crlf, err := readLine(br, &total)
		if err != nil {
			return got, eofUnexpected(err)
		}
		if len(crlf) != 0 {
			return got, malformed("no CRLF after a chunk", nil)
		}
	}
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

//go:noinline
func lineTooLong(size int) error {
	return fmt.Errorf("response header line over %d bytes", size)
}

// malformed is the error for a bad part of a response, quoting (the start
// of) it. Out of line: formatting needs a deep stack (see Client).
//
//go:noinline
func malformed(what string, b []byte) error {
	if b == nil {
		return fmt.Errorf("%w: %s", errMalformed, what)
	}
	return fmt.Errorf("%w: %s %q", errMalformed, what, b[:min(len(b), 64)])
}
