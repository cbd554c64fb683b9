package wire

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseHeadClose(t *testing.T) {
	for head, want := range map[string]bool{
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n":                           false,
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n":      true,
		"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n":                           true,
		"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n": false,
	} {
		if r, err := ParseHead([]byte(head), ""); err != nil || r.Close != want {
			t.Errorf("%q: close %v, %v; want %v", head, r.Close, err, want)
		}
	}
}

func TestParseHead(t *testing.T) {
	for _, c := range []struct {
		head   string
		status int
		length int64
		xcache string
		ok     bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\nX-Cache: HIT\r\n", 200, 1048576, "HIT", true},
		{"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n", 304, 0, "", true},
		{"HTTP/1.1 200 OK\r\ncontent-length:  12 \r\nx-cache:  MISS \r\n", 200, 12, "MISS", true},
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n", 0, 0, "", false},
		{"HTTP/1.1 200 OK\r\nX: y\r\n", 0, 0, "", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n", 0, 0, "", false},
		{"HTTP/1.1 2x0 OK\r\n", 0, 0, "", false},
		{"SSH-2.0\r\n", 0, 0, "", false},
		{"HTTP/1.1 200 OK\r\nno colon\r\n", 0, 0, "", false},
	} {
		r, err := ParseHead([]byte(c.head), "X-Cache")
		if (err == nil) != c.ok || r.Status != c.status || (c.ok && r.Length != c.length) || string(r.Header) != c.xcache {
			t.Errorf("%q: got %+v %v", c.head, r, err)
		}
	}
}

// TestGetDiscardsBodies reads responses of several sizes on one keep-alive
// connection from a real server: every body is discarded exactly, so the
// next response parses.
func TestGetDiscardsBodies(t *testing.T) {
	sizes := []int{0, 1, 1000, 100 << 10, 3 << 20, 9 << 20}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscanf(r.URL.Path, "/%d", &n)
		w.Header().Set("Content-Length", fmt.Sprint(n))
		w.Header().Set("X-Cache", "HIT")
		w.Write(bytes.Repeat([]byte("x"), n))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := Dial(ln.Addr().String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range append(sizes, sizes...) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r, err := c.Get(ln.Addr().String(), fmt.Sprintf("/%d", n), "x-cache")
		if err != nil || r.Status != 200 || r.Length != int64(n) || string(r.Header) != "HIT" || r.Bytes <= int64(n) || c.FirstByte.IsZero() || c.FirstByte.Before(c.Sent) {
			t.Fatalf("%d bytes: %+v %v", n, r, err)
		}
	}
	// A 404 with a body, then a good response: still in step.
	if r, err := c.Get(ln.Addr().String(), "/notanumber", ""); err != nil || r.Length != 0 {
		t.Fatalf("%+v %v", r, err)
	}
}

func FuzzParseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"))
	f.Add([]byte("HTTP/1.0 404 Not Found\r\nContent-Length:0\r\nX-Cache: MISS\r\n"))
	f.Fuzz(func(t *testing.T, h []byte) {
		r, err := ParseHead(h, "X-Cache")
		if err == nil && (r.Status < 100 || r.Status > 999 || r.Length < 0 || !strings.HasPrefix(string(h), "HTTP/1.")) {
			t.Fatalf("%q: accepted %+v", h, r)
		}
	})
}
