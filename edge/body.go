package edge

import (
	"context"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/livecdn/livecdn/edge/cache"
)

// fileBody sends a section of a sealed object's file. fasthttp calls its
// WriteTo (it is a fasthttp.BodyWriterTo) after flushing the headers
// (Response.ImmediateHeaderFlush), so the bytes go from the file to the
// socket by sendfile(2) without passing through the process.
type fileBody struct {
	conn    net.Conn
	f       *os.File
	off, n  int64
	pos     int64 // for Read, the fallback fasthttp never uses with WriteTo
	counter interface{ Add(float64) }
}

var fileBodies = sync.Pool{New: func() any { return new(fileBody) }}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *fileBody) SupportsBodyWriteTo() bool { return true }

// WriteTo sends the section straight to the connection (w's buffer is
// empty: the headers were flushed), or through w where sendfile cannot
// work (TLS).
func (b *fileBody) WriteTo(w io.Writer) (int64, error) {
	n, err, handled := sendFile(b.conn, b.f, b.off, b.n)
	if !handled {
		n, err = io.Copy(w, io.NewSectionReader(b.f, b.off, b.n))
	}
	b.counter.Add(float64(n))
	return n, err
}

// Read is io.Reader for fasthttp's SetBodyStream; WriteTo is what runs.
func (b *fileBody) Read(p []byte) (int, error) {
	if b.pos >= b.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), b.n-b.pos)]
	m, err := b.f.ReadAt(p, b.off+b.pos)
	b.pos += int64(m)
	if err == io.EOF && m > 0 {
		err = nil
	}
	return m, err
}

// Close returns the body to its pool once fasthttp is done with it.
func (b *fileBody) Close() error {
	*b = fileBody{}
	fileBodies.Put(b)
	return nil
}

// streamBody sends an object whose body is still arriving, with the
// upstream's Content-Length: every slice Next returns is written to the
// connection as it is (no pipe, no chunk framing, no copy into fasthttp's
// buffer), so a viewer that fell behind catches up in one write.
type streamBody struct {
	conn    net.Conn
	o       *cache.Object
	n       int64
	timeout time.Duration
	counter interface{ Add(float64) }
}

// SupportsBodyWriteTo tells fasthttp to use WriteTo.
func (b *streamBody) SupportsBodyWriteTo() bool { return true }

// WriteTo writes the body to the connection as it arrives. The headers were
// flushed, so nothing is buffered ahead of it in w.
func (b *streamBody) WriteTo(w io.Writer) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	var written int64
	for written < b.n {
		if f, size := b.o.File(); f != nil && int64(size) == b.n {
			// Sealed while this viewer was behind: send the rest from the file.
			m, err, handled := sendFile(b.conn, f, written, b.n-written)
			if handled {
				b.counter.Add(float64(m))
				return written + m, err
			}
		}
		p, done, err := b.o.Next(ctx, int(written))
		if err != nil {
			return written, err // the connection is closed mid-body: the viewer sees a short read
		}
		p = p[:min(int64(len(p)), b.n-written)]
		m, err := b.conn.Write(p)
		written += int64(m)
		b.counter.Add(float64(m))
		if err != nil {
			return written, err
		}
		if done {
			break
		}
	}
	if written < b.n {
		return written, io.ErrUnexpectedEOF
	}
	return written, nil
}

// Read is io.Reader for fasthttp's SetBodyStream; WriteTo is what runs.
func (b *streamBody) Read([]byte) (int, error) { return 0, io.ErrNoProgress }
