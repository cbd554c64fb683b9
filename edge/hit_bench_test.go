package edge_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// benchOrigin serves the three object kinds the compare script measures:
// a 1 MiB segment, a 100 KiB part (immutable) and a 1 KiB playlist (max-age=60
// here, so the benchmark measures hits and not refreshes).
func benchOrigin(b *testing.B) string {
	seg := bytes.Repeat([]byte("s"), 1<<20)
	part := bytes.Repeat([]byte("p"), 100<<10)
	pl := append([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n"), bytes.Repeat([]byte("#EXTINF:2.0,\nseg1.m4s\n"), 45)...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body []byte
		switch r.URL.Path {
		case "/healthz":
			return
		case "/live/b/v/seg1.m4s":
			body = seg
		case "/live/b/v/part1.0.m4s":
			body = part
		case "/live/b/v/index.m3u8":
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "max-age=60")
			w.Write(pl)
			return
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// hitConn is one keep-alive viewer connection with a minimal HTTP/1.1
// response reader (status line, headers, Content-Length body).
type hitConn struct {
	c   net.Conn
	r   *bufio.Reader
	req []byte
}

func (h *hitConn) get() (int, error) {
	if _, err := h.c.Write(h.req); err != nil {
		return 0, err
	}
	n := -1
	for first := true; ; first = false {
		line, err := h.r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if first && !bytes.HasPrefix(line, []byte("HTTP/1.1 2")) {
			return 0, fmt.Errorf("status %q", line)
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("no Content-Length")
	}
	_, err := h.r.Discard(n)
	return n, err
}

// benchHit measures cached hits of path through a real edge over loopback,
// conns keep-alive connections per GOMAXPROCS, each request read in full by
// the client (whose CPU is measured too, as wrk's is in the compare script).
func benchHit(b *testing.B, path string, conns int, hdr string) {
	origin := benchOrigin(b)
	_, base, _ := startEdge(b, nil, origin)
	addr := base[len("http://"):]
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\n" + hdr + "\r\n")
	dial := func() *hitConn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		return &hitConn{c: c, r: bufio.NewReaderSize(c, 64<<10), req: req}
	}
	fetch(b, base+path) // the miss; it may stream without a Content-Length
	warm := dial()
	want, err := warm.get()
	if err != nil {
		b.Fatal(err)
	}
	warm.c.Close()
	b.SetBytes(int64(want))
	b.ReportAllocs()
	b.SetParallelism(conns)
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		h := dial()
		defer h.c.Close()
		for pb.Next() {
			if n, err := h.get(); err != nil || n != want {
				b.Errorf("got %d bytes, %v", n, err)
				return
			}
		}
	})
	b.StopTimer()
	// CPU time of the whole process (edge and client) per hit: less
	// sensitive than wall time to other work on a shared machine.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user plus system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkHit1MiB(b *testing.B)     { benchHit(b, "/live/b/v/seg1.m4s", 8, "") }
func BenchmarkHit100KiB(b *testing.B)   { benchHit(b, "/live/b/v/part1.0.m4s", 8, "") }
func BenchmarkHitPlaylist(b *testing.B) { benchHit(b, "/live/b/v/index.m3u8", 8, "") }
func BenchmarkHitPlaylistGzip(b *testing.B) {
	benchHit(b, "/live/b/v/index.m3u8", 8, "Accept-Encoding: gzip\r\n")
}
func BenchmarkHitRange(b *testing.B) {
	benchHit(b, "/live/b/v/seg1.m4s", 8, "Range: bytes=1000-200999\r\n")
}
