package compare

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// upstream is the one origin every cache sits in front of: synthetic
// objects of fixed sizes (the static workloads) under /live/bench/, the
// same behaviour as deploy/compare/upstream, and a pass-through to a real
// livecdn origin for everything else (the LL-HLS workload). It listens once
// per cache so that upstream requests are counted per cache.
type upstream struct {
	seg, part, playlist []byte
	delay               time.Duration
	live                *httputil.ReverseProxy
	servers             []*http.Server
	counts              map[string]*atomic.Int64 // cache name -> requests
	mu                  sync.Mutex
	paths               map[string]int // cache name + " " + path
}

const immutable = "public, max-age=31536000, immutable"

func newUpstream(liveOrigin string, delay time.Duration) (*upstream, error) {
	u := &upstream{seg: pattern(1<<20, 1), part: pattern(100<<10, 2), playlist: playlistBody(1 << 10),
		delay: delay, counts: map[string]*atomic.Int64{}, paths: map[string]int{}}
	if liveOrigin != "" {
		target, err := url.Parse(liveOrigin)
		if err != nil {
			return nil, err
		}
		u.live = httputil.NewSingleHostReverseProxy(target)
		u.live.Transport = &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
		// Blocking reloads cut at the end of a workload are not worth a line each.
		u.live.ErrorLog = log.New(io.Discard, "", 0)
	}
	return u, nil
}

// listen starts the listener for one cache and returns its address.
func (u *upstream) listen(cache string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	n := &atomic.Int64{}
	u.counts[cache] = n
	srv := &http.Server{Handler: u.handler(cache, n), ReadHeaderTimeout: 10 * time.Second}
	u.servers = append(u.servers, srv)
	go srv.Serve(ln) //nolint:errcheck // ends with Close
	return ln.Addr().String(), nil
}

func (u *upstream) close() {
	for _, s := range u.servers {
		s.Close()
	}
}

// fetches is how many requests cache sent upstream; for path when not empty.
func (u *upstream) fetches(cache, path string) int64 {
	if path == "" {
		return u.counts[cache].Load()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return int64(u.paths[cache+" "+path])
}

func (u *upstream) handler(cache string, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/live/") || strings.HasPrefix(p, "/flash/") {
			// Objects only: health checks are not origin fetches.
			n.Add(1)
			u.mu.Lock()
			u.paths[cache+" "+p]++
			u.mu.Unlock()
		}
		if strings.HasPrefix(p, "/flash/") {
			time.Sleep(u.delay)
			p = strings.TrimPrefix(p, "/flash")
		}
		if !strings.HasPrefix(p, "/live/bench/") {
			if u.live == nil {
				http.NotFound(w, r)
				return
			}
			u.live.ServeHTTP(w, r)
			return
		}
		name := p[strings.LastIndexByte(p, '/')+1:]
		var body []byte
		h := w.Header()
		switch {
		case strings.HasSuffix(name, ".m3u8"):
			body = u.playlist
			h.Set("Content-Type", "application/vnd.apple.mpegurl")
			h.Set("Cache-Control", "public, max-age=1")
		case strings.HasPrefix(name, "seg") && strings.HasSuffix(name, ".m4s"):
			body = u.seg
			h.Set("Content-Type", "video/iso.segment")
			h.Set("Cache-Control", immutable)
		case strings.HasPrefix(name, "part") && strings.HasSuffix(name, ".m4s"):
			body = u.part
			h.Set("Content-Type", "video/iso.segment")
			h.Set("Cache-Control", immutable)
		default:
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body) //nolint:errcheck // the client hung up
	})
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i/4096) ^ seed
	}
	return b
}

func playlistBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i := 100; i < 106; i++ {
		fmt.Fprintf(&b, "#EXTINF:2.000,\nseg%d.m4s\n", i)
	}
	for b.Len() < n-1 {
		b.WriteString("#")
	}
	b.Truncate(n - 1)
	b.WriteString("\n")
	return b.Bytes()
}
