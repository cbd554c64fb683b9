// Command upstream is the tiny static origin behind the cache comparison in
// deploy/compare: it serves live-shaped objects from memory with the cache
// headers the livecdn origin sends, counts every request per listener and
// path (so run.sh can prove each cache served from its cache), and can delay
// answers to simulate a slow origin for the flash-crowd test.
//
//	upstream -listen 127.0.0.1:9001,127.0.0.1:9002 -delay 100ms -delay-prefix /flash/
//
// Objects (any name matching the pattern exists):
//
//	.../seg*.m4s    1 MiB segment   Cache-Control: public, max-age=31536000, immutable
//	.../part*.m4s   100 KiB part    same
//	.../*.m3u8      1 KiB playlist  Cache-Control: public, max-age=1
//
// GET /_stats returns "listener path count" lines; GET /_stats?path=P the
// total for one path on this listener.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livecdn/livecdn/bench/compare"
)

type origin struct {
	objects     *compare.Objects
	delay       time.Duration
	delayPrefix string

	mu     sync.Mutex
	counts map[string]int // listener + " " + path
}

func (o *origin) handler(listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_stats" {
			o.stats(w, r, listener)
			return
		}
		o.mu.Lock()
		o.counts[listener+" "+r.URL.Path]++
		o.mu.Unlock()
		if o.delay > 0 && strings.HasPrefix(r.URL.Path, o.delayPrefix) {
			time.Sleep(o.delay)
		}
		o.objects.Serve(w, r, r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	})
}

func (o *origin) stats(w http.ResponseWriter, r *http.Request, listener string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Cache-Control", "no-store")
	if p := r.URL.Query().Get("path"); p != "" {
		fmt.Fprintln(w, o.counts[listener+" "+p])
		return
	}
	keys := make([]string, 0, len(o.counts))
	for k := range o.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s %d\n", k, o.counts[k])
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9000", "comma-separated listen addresses; requests are counted per address")
	segSize := flag.Int("segment-bytes", 1<<20, "size of seg*.m4s")
	partSize := flag.Int("part-bytes", 100<<10, "size of part*.m4s")
	plSize := flag.Int("playlist-bytes", 1<<10, "size of *.m3u8")
	maxAge := flag.Int("playlist-max-age", 1, "max-age of playlists, seconds")
	delay := flag.Duration("delay", 0, "sleep this long before answering paths under -delay-prefix")
	delayPrefix := flag.String("delay-prefix", "/", "path prefix that -delay applies to")
	flag.Parse()
	if *plSize < 256 {
		log.Fatal("-playlist-bytes: want at least 256")
	}
	objects := compare.NewObjects(*segSize, *partSize, *plSize)
	objects.PlaylistMaxAge = *maxAge
	o := &origin{objects: objects, delay: *delay, delayPrefix: *delayPrefix, counts: map[string]int{}}
	var wg sync.WaitGroup
	for _, addr := range strings.Split(*listen, ",") {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			log.Fatal(err)
		}
		srv := &http.Server{Handler: o.handler(addr), ReadHeaderTimeout: 10 * time.Second}
		wg.Add(1)
		go func() { defer wg.Done(); log.Print(srv.Serve(ln)) }()
	}
	wg.Wait()
}
