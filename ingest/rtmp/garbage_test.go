package rtmp

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/handshake"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestGarbage sends what port scanners, confused HTTP clients and broken
// encoders send to port 1935, all at once while a real publisher is live:
// each bad connection must be closed quickly and the publisher must not notice.
func TestGarbage(t *testing.T) {
	testenv.NeedFFmpeg(t)
	// Long enough that a real ffmpeg on a loaded machine gets its tracks out
	// in time, short enough that the attacks below are cut off quickly.
	const handshakeTimeout, readTimeout = 3 * time.Second, 3 * time.Second
	e := newEnv(t, ingest.HubConfig{}, func(c *Config) {
		c.HandshakeTimeout, c.ReadTimeout = handshakeTimeout, readTimeout
	})
	testenv.PublishSource(t, live, "flv", e.url("live/test"))
	st := e.rec.WaitStreams(t, 1, 10*time.Second)[0]
	st.WaitUnits(t, 1, 10*time.Second) // the publisher delivers units

	rng := rand.New(rand.NewPCG(1935, 2026))
	junk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	type attack struct {
		name string
		// prepare brings the connection to the state the junk is sent in.
		prepare func(t *testing.T) net.Conn
		data    []byte
		// limit is how long the server may take to close the connection.
		limit time.Duration
	}
	dial := func(t *testing.T) net.Conn {
		c, err := net.Dial("tcp", e.srv.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	afterHandshake := func(t *testing.T) net.Conn {
		c := dial(t)
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, _, err := handshake.DoClient(c, false, false); err != nil {
			t.Fatalf("client handshake: %v", err)
		}
		_ = c.SetDeadline(time.Time{})
		return c
	}
	// Each publisher needs its own stream name, or the second is refused as busy.
	var junkNames []string
	afterPublish := func(name string) func(t *testing.T) net.Conn {
		junkNames = append(junkNames, name)
		return func(t *testing.T) net.Conn {
			u, _ := url.Parse(e.url("live/" + name))
			c := &gortmplib.Client{URL: u, Publish: true}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Initialize(ctx); err != nil {
				t.Fatalf("publish: %v", err)
			}
			t.Cleanup(c.Close)
			return c.NetConn()
		}
	}
	// A chunk header announcing a 10 MiB message, then nothing: the parser
	// waits for a body that never comes, so only the deadline ends it.
	bigChunk := []byte{0x03, 0, 0, 0, 0xa0, 0x00, 0x00, 0x14, 1, 0, 0, 0}
	slack := time.Second
	attacks := []attack{
		{"http request", dial, []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n"), slack},
		{"random bytes", dial, append([]byte{0xff}, junk(4096)...), slack},
		{"random handshake and chunks", dial, append([]byte{3}, junk(8192)...), handshakeTimeout + slack},
		{"silence", dial, nil, handshakeTimeout + slack},
		{"junk after handshake", afterHandshake, junk(4096), handshakeTimeout + slack},
		{"junk after handshake 2", afterHandshake, junk(300), handshakeTimeout + slack},
		{"truncated chunk after handshake", afterHandshake, bigChunk, handshakeTimeout + slack},
		{"junk after publish", afterPublish("junk1"), junk(4096), readTimeout + slack},
		{"truncated chunk after publish", afterPublish("junk2"), bigChunk, readTimeout + slack},
	}
	t.Run("attacks", func(t *testing.T) {
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				t.Parallel()
				c := a.prepare(t)
				start := time.Now()
				_, _ = c.Write(a.data) // the server may already have hung up
				_ = c.SetReadDeadline(start.Add(a.limit + time.Second))
				_, err := io.Copy(io.Discard, c)
				if isTimeout(err) {
					t.Fatalf("connection still open after %v", time.Since(start))
				}
				if d := time.Since(start); d > a.limit {
					t.Errorf("closed after %v, want within %v", d, a.limit)
				}
			})
		}
	})
	for _, name := range junkNames {
		if e.hub.Live(name) {
			t.Errorf("publisher %s sent junk and still holds its stream name", name)
		}
	}
	st.WaitMoreUnits(t, 31, 10*time.Second) // the publisher still delivers after the garbage
	if st.Closed() || e.rec.NumStreams() != 1 {
		t.Fatalf("the live stream was disturbed: closed=%v streams=%d", st.Closed(), e.rec.NumStreams())
	}
}
