package compare

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
	objects *Objects
	delay   time.Duration
	live    *httputil.ReverseProxy
	servers []*http.Server
	counts  map[string]*atomic.Int64 // cache name -> requests
	mu      sync.Mutex
	paths   map[string]int // cache name + " " + path
}

func newUpstream(liveOrigin string, delay time.Duration) (*upstream, error) {
	u := &upstream{objects: NewObjects(1<<20, 100<<10, 1<<10),
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
		u.objects.Serve(w, r, p[strings.LastIndexByte(p, '/')+1:])
	})
}
