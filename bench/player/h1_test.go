package player

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// readAll parses one response from raw with a reader of size bufSize.
func readAll(raw string, bufSize int) (respHead, []byte, int64, error) {
	br := bufio.NewReaderSize(strings.NewReader(raw), bufSize)
	h, err := readHead(br)
	if err != nil {
		return h, nil, 0, err
	}
	var body []byte
	n, err := readBody(br, &h, &body)
	return h, body, n, err
}

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, raw   string
		status      int
		body        string
		close, fail bool
	}{
		{name: "length", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", status: 200, body: "hello"},
		{name: "chunked", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n1\r\n!\r\n0\r\nTrailer: y\r\n\r\n", status: 200, body: "hello!"},
		{name: "chunked wins", raw: "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", status: 200, body: "hi"},
		{name: "to EOF", raw: "HTTP/1.1 200 OK\r\n\r\nrest of it", status: 200, body: "rest of it", close: true},
		{name: "close", raw: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x", close: true},
		{name: "1.0", raw: "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x", close: true},
		{name: "1.0 keep-alive", raw: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx", status: 200, body: "x"},
		{name: "LF only", raw: "HTTP/1.1 404 Not Found\nContent-Length: 2\n\nno", status: 404, body: "no"},
		{name: "no reason", raw: "HTTP/1.1 204\r\n\r\n", status: 204},
		{name: "304 has no body", raw: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", status: 304},
		{name: "interim", raw: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", status: 200, body: "ok"},
		{name: "short body", raw: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", fail: true},
		{name: "short chunk", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", fail: true},
		{name: "bad chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", fail: true},
		{name: "huge chunk size", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", fail: true},
		{name: "bad length", raw: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", fail: true},
		{name: "two lengths", raw: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy", fail: true},
		{name: "gzip coding", raw: "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", fail: true},
		{name: "not http", raw: "SSH-2.0-OpenSSH\r\n\r\n", fail: true},
		{name: "bad status", raw: "HTTP/1.1 2x0 OK\r\n\r\n", fail: true},
		{name: "no colon", raw: "HTTP/1.1 200 OK\r\nfoo\r\n\r\n", fail: true},
		{name: "eof in header", raw: "HTTP/1.1 200 OK\r\nContent-Len", fail: true},
		{name: "101", raw: "HTTP/1.1 101 Switching Protocols\r\n\r\n", fail: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, body, n, err := readAll(tc.raw, 64)
			if tc.fail {
				if err == nil {
					t.Fatalf("parsed %+v %q, want an error", h, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.status != tc.status || string(body) != tc.body || n != int64(len(tc.body)) || h.close != tc.close {
				t.Fatalf("got status %d body %q (%d) close %v, want %d %q close %v", h.status, body, n, h.close, tc.status, tc.body, tc.close)
			}
		})
	}
}

// Header lines longer than the read buffer and headers over the total
// limit are refused with errors that say so.
func TestHeaderLimits(t *testing.T) {
	_, _, _, err := readAll("HTTP/1.1 200 OK\r\nX-Long: "+strings.Repeat("a", 100)+"\r\n\r\n", 64)
	if err == nil || !strings.Contains(err.Error(), "header line over 64 bytes") {
		t.Errorf("long line: %v", err)
	}
	many := strings.Repeat("X-A: "+strings.Repeat("b", 1000)+"\r\n", maxHeaderBytes/1000+1)
	_, _, _, err = readAll("HTTP/1.1 200 OK\r\n"+many+"\r\n", 4096)
	if !errors.Is(err, errHeaderTooBig) {
		t.Errorf("many lines: %v", err)
	}
}

// FuzzResponse feeds arbitrary bytes to the response reader: it must not
// panic or hang, must not read past what it was given, and a body it
// accepts is never longer than the input.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x\r\nhello\r\n0\r\nT: 1\r\n\r\n"))
	f.Add([]byte("HTTP/1.0 100 Continue\n\nHTTP/1.1 304 X\nConnection: keep-alive, close\n\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nto the end"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, size := range []int{16, 4096} {
			for _, keep := range []bool{false, true} {
				br := bufio.NewReaderSize(bytes.NewReader(raw), size)
				h, err := readHead(br)
				if err != nil {
					continue
				}
				if h.status < 100 || h.status > 999 || (h.chunked && h.length >= 0) {
					t.Fatalf("head %+v", h)
				}
				var body []byte
				dst := &body
				if !keep {
					dst = nil
				}
				n, err := readBody(br, &h, dst)
				if n < 0 || n > int64(len(raw)) || (keep && int64(len(body)) != n) {
					t.Fatalf("body length %d (kept %d) from %d bytes, err %v", n, len(body), len(raw), err)
				}
			}
		}
	})
}

// The client against a real net/http server: Content-Length and chunked
// bodies, kept or counted; a non-2xx answer is an error and its connection
// is reused; extra headers are sent; a server that closes idle
// connections costs no error; too many connections wait for a free one.
func TestClient(t *testing.T) {
	var conns atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/len", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := range 3 {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "gone", http.StatusNotFound) })
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+r.Header.Get("User-Agent")+" "+r.Header.Get("CMCD-Request"))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "late")
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	cl := NewClient(ClientConfig{MaxConnsPerHost: 2, Timeout: 2 * time.Second})
	dl := func() time.Time { return time.Now().Add(5 * time.Second) }

	r, err := cl.get(srv.URL+"/len", dl(), true)
	if err != nil || string(r.Body) != "hello" || r.Size != 5 || r.Elapsed <= 0 {
		t.Fatalf("len: %+v %v", r, err)
	}
	r.release()
	r, err = cl.get(srv.URL+"/chunked", dl(), false)
	if err != nil || r.Body != nil || r.Size != int64(len("part0;part1;part2;")) {
		t.Fatalf("chunked, counted: %+v %v", r, err)
	}
	r, err = cl.get(srv.URL+"/chunked", dl(), true)
	if err != nil || string(r.Body) != "part0;part1;part2;" {
		t.Fatalf("chunked, kept: %+v %v", r, err)
	}
	r.release()
	if _, err := cl.get(srv.URL+"/missing", dl(), true); !errors.Is(err, errStatus{404}) {
		t.Fatalf("missing: %v", err)
	}
	r, err = cl.get(srv.URL+"/echo?a=1#frag", dl(), true, "CMCD-Request", "bl=100")
	host := strings.TrimPrefix(srv.URL, "http://")
	if want := "GET /echo?a=1 " + host + " livecdn-bench bl=100"; err != nil || string(r.Body) != want {
		t.Fatalf("echo: %q %v, want %q", r.Body, err, want)
	}
	r.release()
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for sequential requests, want 1 (keep-alive, also after a 404)", n)
	}

	// The server drops its idle connections: the next request retries on a
	// new one instead of failing.
	srv.CloseClientConnections()
	if r, err = cl.get(srv.URL+"/len", dl(), true); err != nil {
		t.Fatalf("after the server closed idle connections: %v", err)
	}
	r.release()

	// Three slow requests on two connections: the third waits, none fails.
	cl.CloseIdle()
	before := conns.Load()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			r, err := cl.get(srv.URL+"/slow", dl(), true)
			if err == nil {
				r.release()
			}
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load() - before; n != 2 {
		t.Errorf("%d new connections for 3 concurrent requests at a limit of 2", n)
	}
	// The server closes both pooled connections (Varnish closes idle ones
	// after 5 s): the retry goes to a new connection, not to the other
	// stale one.
	srv.CloseClientConnections()
	for range 2 {
		r, err := cl.get(srv.URL+"/len", dl(), true)
		if err != nil {
			t.Fatalf("after the server closed both idle connections: %v", err)
		}
		r.release()
	}
	// Waiting for a connection is bounded by the deadline.
	short := NewClient(ClientConfig{MaxConnsPerHost: 1})
	go func() { _, _ = short.get(srv.URL+"/slow", dl(), false) }()
	time.Sleep(50 * time.Millisecond)
	if _, err := short.get(srv.URL+"/len", time.Now().Add(100*time.Millisecond), false); !errors.Is(err, errNoFreeConns) {
		t.Errorf("no free connection: %v", err)
	}
	if _, err := cl.get("https://example.com/", dl(), false); err == nil {
		t.Error("https accepted")
	}
}

func TestSplitURL(t *testing.T) {
	for _, tc := range []struct{ in, addr, host, path string }{
		{"http://127.0.0.1:8080/live/s/index.m3u8?_HLS_msn=1", "127.0.0.1:8080", "127.0.0.1:8080", "/live/s/index.m3u8?_HLS_msn=1"},
		{"http://h", "h:80", "h", "/"},
		{"http://h?x", "h:80", "h", "/?x"},
		{"http://[::1]:81/a", "[::1]:81", "[::1]:81", "/a"},
		{"http://[::1]/a", "[::1]:80", "[::1]", "/a"},
	} {
		addr, host, path, err := splitURL(tc.in)
		if err != nil || addr != tc.addr || host != tc.host || path != tc.path {
			t.Errorf("%s: %q %q %q %v", tc.in, addr, host, path, err)
		}
	}
}
