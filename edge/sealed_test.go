package edge_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/internal/testenv"
)

// fileBytes reads livecdn_edge_cache_file_bytes from the edge's /metrics.
func fileBytes(t *testing.T, base string) int64 {
	t.Helper()
	_, b := fetch(t, base+"/metrics")
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "livecdn_edge_cache_file_bytes "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	t.Fatal("no livecdn_edge_cache_file_bytes in /metrics")
	return 0
}

// Complete media objects move into memory files and are sent with
// sendfile: whole, by range, HEAD, 304, to many viewers at once, and over
// TLS (where sendfile cannot work and the edge copies).
func TestSealedObjects(t *testing.T) {
	up := newFakeOrigin(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	tlsOK := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").Run() == nil
	_, base, _ := startEdge(t, nil, up.URL)
	seg := "/live/s/v/seg7.m4s"
	want := bytes.Repeat([]byte(seg), 2000) // 36 KB: above the 16 KiB sealing threshold
	if r, b := fetch(t, base+seg); r.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Fatalf("miss: %d, %d bytes", r.StatusCode, len(b))
	}
	testenv.Eventually(t, 5*time.Second, "the segment sealed into a memory file", func() bool {
		return fileBytes(t, base) >= int64(len(want))
	})

	cases := []struct {
		name, rng  string
		code       int
		start, end int // inclusive
	}{
		{"whole", "", 200, 0, len(want) - 1},
		{"range", "bytes=18-35", 206, 18, 35},
		{"open range", "bytes=35000-", 206, 35000, len(want) - 1},
		{"suffix", "bytes=-100", 206, len(want) - 100, len(want) - 1},
		{"past the end", "bytes=10-99999999", 206, 10, len(want) - 1},
	}
	for _, c := range cases {
		var hdr []string
		if c.rng != "" {
			hdr = []string{"Range", c.rng}
		}
		r, b := fetch(t, base+seg, hdr...)
		if r.StatusCode != c.code || !bytes.Equal(b, want[c.start:c.end+1]) || r.Header.Get("X-Cache") != "HIT" {
			t.Errorf("%s: %d %s, %d bytes, want %d and bytes %d-%d", c.name, r.StatusCode, r.Header.Get("X-Cache"), len(b), c.code, c.start, c.end)
		}
		if c.code == 206 && r.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", c.start, c.end, len(want)) {
			t.Errorf("%s: Content-Range %q", c.name, r.Header.Get("Content-Range"))
		}
	}
	if r, _ := fetch(t, base+seg, "Range", "bytes=99999999-"); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d", r.StatusCode)
	}
	if r, b := fetch(t, base+seg, "If-None-Match", `"`+seg+`"`); r.StatusCode != http.StatusNotModified || len(b) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", r.StatusCode, len(b))
	}
	req, _ := http.NewRequest(http.MethodHead, base+seg, nil)
	if r, err := client.Do(req); err != nil || r.StatusCode != 200 || r.ContentLength != int64(len(want)) {
		t.Errorf("HEAD: %v %v", r, err)
	}

	// Many viewers at once, each on its own keep-alive connection, each
	// asking several ranges: every one gets exactly its bytes.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				start := (i*997 + j*7919) % len(want)
				r, b := fetch(t, base+seg, "Range", fmt.Sprintf("bytes=%d-", start))
				if r.StatusCode != 206 || !bytes.Equal(b, want[start:]) {
					t.Errorf("viewer %d: %d, %d bytes from %d", i, r.StatusCode, len(b), start)
					return
				}
			}
		}()
	}
	wg.Wait()
	if n := up.count(seg); n != 1 {
		t.Errorf("%d upstream requests, want 1", n)
	}

	if !tlsOK {
		t.Log("no openssl: TLS case skipped")
		return
	}
	_, tbase, _ := startEdge(t, func(c *edge.Config) { c.TLSCert, c.TLSKey = cert, key }, up.URL)
	tc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(hdr ...string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, strings.Replace(tbase, "http://", "https://", 1)+seg, nil)
		if len(hdr) == 2 {
			req.Header.Set(hdr[0], hdr[1])
		}
		r, err := tc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return r, b
	}
	get()
	testenv.Eventually(t, 5*time.Second, "sealed behind TLS", func() bool {
		r, _ := get()
		return r.Header.Get("X-Cache") == "HIT" && r.ContentLength == int64(len(want))
	})
	if r, b := get(); r.StatusCode != 200 || !bytes.Equal(b, want) {
		t.Errorf("TLS whole: %d, %d bytes", r.StatusCode, len(b))
	}
	if r, b := get("Range", "bytes=18-35"); r.StatusCode != 206 || string(b) != seg {
		t.Errorf("TLS range: %d %q", r.StatusCode, b)
	}
}

// 100 KiB parts on one keep-alive connection never wait for a timer: the
// headers and the body leave as separate writes (the headers with MSG_MORE,
// which must hold them only until sendfile's bytes follow; the body by
// sendfile), so
// a corked socket (nginx's tcp_nopush, ~40-200 ms per response; checked:
// setting TCP_CORK in sendFile fails this test) or Nagle's algorithm
// holding the tail for a delayed ACK would stall every response.
func TestPartsDoNotStall(t *testing.T) {
	part := bytes.Repeat([]byte("p"), 100<<10)
	up := newPartOrigin(t, part)
	_, base, _ := startEdge(t, nil, up)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	get := func() time.Duration {
		start := time.Now()
		fmt.Fprintf(c, "GET /live/s/v/part1.0.m4s HTTP/1.1\r\nHost: x\r\n\r\n")
		r, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if err != nil || n != int64(len(part)) {
			t.Fatalf("%d bytes, %v", n, err)
		}
		return time.Since(start)
	}
	get()
	testenv.Eventually(t, 5*time.Second, "the part sealed", func() bool { return fileBytes(t, base) >= int64(len(part)) })
	var slow []time.Duration
	for range 40 {
		if d := get(); d >= 35*time.Millisecond {
			slow = append(slow, d)
		}
	}
	// One slow response can be the shared machine; a stall is every one.
	if len(slow) > 4 {
		t.Errorf("%d of 40 sequential 100 KiB hits took >= 35 ms: %v", len(slow), slow)
	}
}

// newPartOrigin serves body as an immutable LL-HLS part.
func newPartOrigin(t *testing.T, body []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
