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
	"bytes"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const immutable = "public, max-age=31536000, immutable"

type origin struct {
	seg, part, playlist []byte
	playlistMaxAge      int
	delay               time.Duration
	delayPrefix         string
	modified            string

	mu     sync.Mutex
	counts map[string]int // listener + " " + path
}

// pattern returns deterministic, position-dependent bytes, so a cache that
// returns the wrong range or a truncated body fails a checksum.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i/4096) ^ seed
	}
	return b
}

// playlist returns an LL-HLS-looking media playlist padded to exactly n bytes.
func playlist(n int) []byte {
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
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		var body []byte
		h := w.Header()
		switch {
		case strings.HasSuffix(name, ".m3u8"):
			body = o.playlist
			h.Set("Content-Type", "application/vnd.apple.mpegurl")
			h.Set("Cache-Control", "public, max-age="+strconv.Itoa(o.playlistMaxAge))
		case strings.HasPrefix(name, "seg") && strings.HasSuffix(name, ".m4s"):
			body = o.seg
			h.Set("Content-Type", "video/iso.segment")
			h.Set("Cache-Control", immutable)
		case strings.HasPrefix(name, "part") && strings.HasSuffix(name, ".m4s"):
			body = o.part
			h.Set("Content-Type", "video/iso.segment")
			h.Set("Cache-Control", immutable)
		default:
			h.Set("Cache-Control", "public, max-age=0")
			http.NotFound(w, r)
			return
		}
		h.Set("Last-Modified", o.modified)
		h.Set("ETag", fmt.Sprintf("\"%d-%x\"", len(body), body[len(body)/2]))
		h.Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write(body) //nolint:errcheck // the client hung up
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
	o := &origin{
		seg: pattern(*segSize, 1), part: pattern(*partSize, 2), playlist: playlist(*plSize),
		playlistMaxAge: *maxAge, delay: *delay, delayPrefix: *delayPrefix,
		modified: time.Now().UTC().Format(http.TimeFormat), counts: map[string]int{},
	}
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
