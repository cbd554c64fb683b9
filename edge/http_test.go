package edge_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/internal/testenv"
)

// fakeOrigin is a real HTTP server with a tiny live stream: it counts
// requests per path and can be told to fail.
type fakeOrigin struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int
	down     atomic.Bool
	version  atomic.Int32
}

const playlistFmt = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:%d
#EXT-X-MAP:URI="init1.mp4"
#EXTINF:2.00000,
seg%d.m4s
#EXTINF:2.00000,
seg%d.m4s
` + "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00Z\n" + `#EXTINF:2.00000,
seg%d.m4s
`

func newFakeOrigin(t *testing.T) *fakeOrigin {
	f := &fakeOrigin{requests: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if f.down.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		f.mu.Lock()
		f.requests[r.URL.RequestURI()]++
		f.mu.Unlock()
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		switch {
		case strings.Contains(r.URL.Path, "missing"):
			http.NotFound(w, r)
		case strings.HasSuffix(r.URL.Path, ".m3u8"):
			v := int(f.version.Load())
			w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
			w.Header().Set("Cache-Control", "public, max-age=1")
			fmt.Fprintf(w, playlistFmt, v, v, v+1, v+2)
		case strings.HasSuffix(r.URL.Path, ".m4s"), strings.HasSuffix(r.URL.Path, ".mp4"):
			w.Header().Set("Content-Type", "video/mp4")
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
			w.Header().Set("ETag", `"`+r.URL.Path+`"`)
			w.Header().Set("Last-Modified", "Mon, 02 Jan 2026 15:04:05 GMT")
			w.Write(bytes.Repeat([]byte(r.URL.Path), 2000))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeOrigin) count(uri string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[uri]
}

func TestHTTPFeatures(t *testing.T) {
	up := newFakeOrigin(t)
	_, base, _ := startEdge(t, nil, up.URL)
	seg := base + "/live/s/v/seg1.m4s"
	want := bytes.Repeat([]byte("/live/s/v/seg1.m4s"), 2000)

	resp, body := fetch(t, seg)
	if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get("X-Cache") != "MISS" {
		t.Fatalf("first: %d %s %d bytes", resp.StatusCode, resp.Header.Get("X-Cache"), len(body))
	}
	resp, body = fetch(t, seg+"?utm_source=x&exp=1")
	if resp.Header.Get("X-Cache") != "HIT" || !bytes.Equal(body, want) || up.count("/live/s/v/seg1.m4s") != 1 {
		t.Errorf("unknown query parameters must share the cached copy: %s, %d upstream requests", resp.Header.Get("X-Cache"), up.count("/live/s/v/seg1.m4s"))
	}
	if resp.Header.Get("Age") == "" || resp.Header.Get("Access-Control-Allow-Origin") != "*" ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("headers: %v", resp.Header)
	}
	resp, body = fetch(t, seg, "Range", "bytes=18-35")
	if resp.StatusCode != http.StatusPartialContent || string(body) != "/live/s/v/seg1.m4s" ||
		resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 18-35/%d", len(want)) {
		t.Errorf("range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), body)
	}
	resp, _ = fetch(t, seg, "Range", "bytes=99999999-")
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", resp.StatusCode)
	}
	resp, _ = fetch(t, seg, "If-None-Match", `"/live/s/v/seg1.m4s"`)
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, _ = fetch(t, seg, "If-Modified-Since", "Tue, 03 Jan 2026 00:00:00 GMT")
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-Modified-Since: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodHead, seg, nil)
	hr, err := client.Do(req)
	if err != nil || hr.StatusCode != 200 || hr.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %v %v", hr, err)
	}

	// Playlists: gzip when asked, short-lived.
	req, _ = http.NewRequest(http.MethodGet, base+"/live/s/v/index.m3u8", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	pr, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	gz, _ := io.ReadAll(pr.Body)
	pr.Body.Close()
	if pr.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		gz, _ = io.ReadAll(zr)
	} else if len(gz) > 512 {
		t.Errorf("playlist of %d bytes not gzipped", len(gz))
	}
	if !bytes.HasPrefix(gz, []byte("#EXTM3U")) {
		t.Errorf("playlist body %q", gz)
	}
	up.version.Add(1)
	time.Sleep(1100 * time.Millisecond) // the upstream said max-age=1
	_, pl := fetch(t, base+"/live/s/v/index.m3u8")
	if !bytes.Contains(pl, []byte("#EXT-X-MEDIA-SEQUENCE:1")) {
		t.Errorf("playlist not refreshed after its max-age:\n%s", pl)
	}

	resp, _ = fetch(t, base+"/live/s/v/missing.m4s")
	resp2, _ := fetch(t, base+"/live/s/v/missing.m4s")
	if resp.StatusCode != 404 || resp2.StatusCode != 404 || up.count("/live/s/v/missing.m4s") != 1 {
		t.Errorf("404 not cached briefly: %d upstream requests", up.count("/live/s/v/missing.m4s"))
	}
	time.Sleep(150 * time.Millisecond)
	fetch(t, base+"/live/s/v/missing.m4s")
	if up.count("/live/s/v/missing.m4s") != 2 {
		t.Errorf("404 cached longer than 100 ms")
	}
}

// The upstream dies: playlists are served STALE within the grace, then the
// edge answers 5xx; a backup origin takes over; the primary's return heals.
func TestUpstreamFailure(t *testing.T) {
	primary := newFakeOrigin(t)
	_, base, _ := startEdge(t, func(c *edge.Config) { c.Policy.StaleIfError = 2 * time.Second }, primary.URL)
	pl := base + "/live/s/v/index.m3u8"
	fetch(t, pl)
	primary.down.Store(true)
	time.Sleep(1100 * time.Millisecond) // past max-age=1
	resp, body := fetch(t, pl)
	if resp.StatusCode != 200 || resp.Header.Get("X-Cache") != "STALE" || !bytes.HasPrefix(body, []byte("#EXTM3U")) {
		t.Errorf("within grace: %d %s", resp.StatusCode, resp.Header.Get("X-Cache"))
	}
	time.Sleep(2 * time.Second)
	resp, _ = fetch(t, pl)
	if resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("after grace: %d, want 502/504", resp.StatusCode)
	}
	if resp, _ := fetch(t, base+"/live/s/v/seg9.m4s"); resp.StatusCode != http.StatusBadGateway {
		t.Errorf("uncached segment while down: %d", resp.StatusCode)
	}
	primary.down.Store(false)
	testenv.Eventually(t, 5*time.Second, "edge recovers", func() bool {
		resp, _ := fetch(t, pl)
		return resp.StatusCode == 200 && resp.Header.Get("X-Cache") != "STALE"
	})
	if resp, _ := fetch(t, base+"/live/s/v/seg9.m4s"); resp.StatusCode != 200 {
		t.Errorf("segment after recovery: %d (a failed fetch must not be cached)", resp.StatusCode)
	}

	// Primary refuses connections: the backup answers at once.
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	backup := newFakeOrigin(t)
	_, base2, _ := startEdge(t, nil, deadURL, backup.URL)
	start := time.Now()
	if resp, _ := fetch(t, base2+"/live/s/v/seg3.m4s"); resp.StatusCode != 200 || backup.count("/live/s/v/seg3.m4s") != 1 {
		t.Errorf("backup not used: %d", resp.StatusCode)
	}
	t.Logf("failover to the backup took %v", time.Since(start))
}

// Hostile requests get a clear 4xx or are cut off, and a viewer fetching
// meanwhile is not slowed down.
func TestHostileInput(t *testing.T) {
	up := newFakeOrigin(t)
	_, base, _ := startEdge(t, func(c *edge.Config) { c.ReadTimeout = 2 * time.Second }, up.URL)
	addr := strings.TrimPrefix(base, "http://")
	for _, tc := range []struct{ name, req, want string }{
		{"dot dot", "GET /live/s/../../etc/passwd HTTP/1.1\r\nHost: a\r\n\r\n", " 400 "},
		{"encoded dots", "GET /live/s/%2e%2e/x.m4s HTTP/1.1\r\nHost: a\r\n\r\n", " 400 "},
		{"encoded slash", "GET /live/s%2fv/x.m4s HTTP/1.1\r\nHost: a\r\n\r\n", " 400 "},
		{"64 KiB URL", "GET /live/" + strings.Repeat("a", 64<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", " 431 "},
		{"1 MB header", "GET /live/s/v/seg1.m4s HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("b", 1<<20) + "\r\n\r\n", " 431 "},
		{"bad method", "DELETE /live/s/v/seg1.m4s HTTP/1.1\r\nHost: a\r\n\r\n", " 405 "},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go c.Write([]byte(tc.req))
		buf := make([]byte, 512)
		n, _ := io.ReadAtLeast(c, buf, 12)
		c.Close()
		if !strings.Contains(string(buf[:n]), tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, buf[:n], tc.want)
		}
	}

	// Slowloris: many connections trickling headers. They are cut off after
	// ReadTimeout while a real viewer keeps being served promptly.
	conns := 500
	if testenv.Race {
		conns = 200
	}
	var open []net.Conn
	for i := 0; i < conns; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("slowloris dial %d: %v", i, err)
		}
		c.Write([]byte("GET /live/s/v/seg1.m4s HTTP/1.1\r\nHost: a\r\n"))
		open = append(open, c)
	}
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	fetch(t, base+"/live/s/v/seg1.m4s") // warm
	var worst time.Duration
	for i := 0; i < 20; i++ {
		start := time.Now()
		if resp, _ := fetch(t, base+"/live/s/v/seg1.m4s"); resp.StatusCode != 200 {
			t.Fatalf("viewer during slowloris: %d", resp.StatusCode)
		}
		worst = max(worst, time.Since(start))
	}
	t.Logf("viewer latency during %d slowloris connections: worst %v", conns, worst)
	// After ReadTimeout the server has closed them.
	time.Sleep(2500 * time.Millisecond)
	closed := 0
	for _, c := range open {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		// Cut off means an answer (408) or a closed connection, not silence.
		if n, err := c.Read(make([]byte, 1)); n > 0 || (err != nil && !isTimeout(err)) {
			closed++
		}
	}
	if closed < conns*9/10 {
		t.Errorf("only %d of %d slowloris connections were cut off", closed, conns)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
