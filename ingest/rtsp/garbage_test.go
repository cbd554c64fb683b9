package rtsp

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// TestGarbage sends junk to the RTSP port while a publisher is live: each
// junk connection must be closed, and the publisher must not notice.
func TestGarbage(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{}, Config{IdleTimeout: time.Second})
	addr := e.srv.Addr().String()
	pub := testenv.Publish(t, testenv.Source{Realtime: true, Extra: tcp}.Args("rtsp", e.url("live/test"))...)
	units := func() int {
		ss := e.rec.Streams()
		if len(ss) == 0 {
			return 0
		}
		return ss[0].NumUnits()
	}
	testenv.Eventually(t, 10*time.Second, "publisher live", func() bool { return units() > 10 })

	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64<<10)
	for i := range random {
		random[i] = byte(rng.UintN(256))
	}
	cases := []struct {
		name string
		data string
		// logged says a warning about the connection must be logged.
		logged bool
	}{
		{"random bytes", string(random), true},
		{"interleaved frame before any session", "$\x00\x00\x10" + strings.Repeat("x", 16), true},
		{"request without CSeq", "OPTIONS rtsp://h/live/x RTSP/1.0\r\n\r\n", true},
		{"bad protocol version", "OPTIONS rtsp://h/live/x HTTP/1.1\r\nCSeq: 1\r\n\r\n", true},
		{"header without colon", "OPTIONS rtsp://h/live/x RTSP/1.0\r\nCSeq: 1\r\nGarbage\r\n\r\n", true},
		{"huge content length", "ANNOUNCE rtsp://h/live/x RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 99999999999\r\n\r\n", true},
		{"announce with broken SDP", "ANNOUNCE rtsp://h/live/x RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: 7\r\n\r\nv=0\r\nm=", true},
		{"oversized request line", "OPTIONS rtsp://h/" + strings.Repeat("a", 1<<20) + " RTSP/1.0\r\nCSeq: 1\r\n\r\n", true},
		{"oversized header", "OPTIONS rtsp://h/live/x RTSP/1.0\r\nCSeq: 1\r\nX: " + strings.Repeat("b", 1<<20) + "\r\n\r\n", true},
		{"silence", "", false},
		{"half a request", "OPTIONS rtsp://h/li", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(e.logs.String(), "protocol error")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Write in the background: the server may close before it has
			// read everything, which fails the write, and that is fine.
			go func() { _, _ = c.Write([]byte(tc.data)) }()
			if err := waitClosed(c, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if tc.logged {
				testenv.Eventually(t, 2*time.Second, "a warning about the connection", func() bool {
					return strings.Count(e.logs.String(), "protocol error") > before
				})
			}
		})
	}

	n := units()
	testenv.Eventually(t, 10*time.Second, "publisher unaffected", func() bool { return units() > n+30 })
	select {
	case <-pub.Done():
		t.Fatalf("publisher exited:\n%s", pub.Output())
	default:
	}
	if ss := e.rec.Streams(); len(ss) != 1 || ss[0].Closed() {
		t.Fatalf("stream state changed: %d streams", len(ss))
	}
}

// waitClosed reads (and discards any error response) until the server
// closes the connection, or fails after timeout.
func waitClosed(c net.Conn, timeout time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errors.New("server kept the connection open")
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
			return nil
		}
		return err
	}
}
