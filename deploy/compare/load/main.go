// Command load is the lean closed-loop HTTP/1.1 load generator of
// deploy/compare: like wrk, c keep-alive connections each send a GET, read
// the whole response and send the next, for a duration; unlike wrk, it
// discards response bodies inside the kernel (package wire: recv with
// MSG_TRUNC), so a 1 MiB response costs the client a few syscalls instead
// of 128 8 KiB copies. On a 2-core box wrk reading 1 MiB bodies saturates its own
// core before any of the caches does (run.sh PIN=1 shows the cache at a
// quarter of its core), so wrk measures itself; this client leaves the
// cache as the bottleneck. Every cache gets the same client.
//
//	load -c 50 -d 10s [-H 'Accept-Encoding: gzip'] http://127.0.0.1:8081/live/x/seg1.m4s
//
// It prints wrk's summary lines (Latency Distribution 50%/99%, "N requests
// in", Socket errors, Non-2xx, Requests/sec, Transfer/sec), so run.sh reads
// both the same way. Responses must carry a Content-Length (chunked bodies
// are an error: the caches answer cached objects with one).
//
// Use it for large bodies: for 1 KiB responses wrk (C, one epoll loop per
// thread) costs less per request than a goroutine per connection.
package main

import (
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livecdn/livecdn/deploy/compare/wire"
)

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

// tally is one connection's counts; merged at the end.
type tally struct {
	reqs, bytes, non2xx        int64
	connErr, readErr, writeErr int64
	timeouts                   int64
	lat                        []time.Duration
}

func main() {
	conns := flag.Int("c", 50, "connections")
	dur := flag.Duration("d", 10*time.Second, "duration")
	timeout := flag.Duration("timeout", 2*time.Second, "per-response deadline (counted as a timeout, like wrk's)")
	var hdrs headerFlags
	flag.Var(&hdrs, "H", "extra request header (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: load [-c N] [-d D] [-H 'Name: value'] URL")
		os.Exit(2)
	}
	u, err := url.Parse(flag.Arg(0))
	if err != nil || u.Scheme != "http" || u.Host == "" {
		fmt.Fprintln(os.Stderr, "load: want an http:// URL")
		os.Exit(2)
	}
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: livecdn-load\r\n", u.RequestURI(), u.Host)
	for _, h := range hdrs {
		req.WriteString(h + "\r\n")
	}
	req.WriteString("\r\n")
	raw := []byte(req.String())

	var stop atomic.Bool
	tallies := make([]tally, *conns)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range tallies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(&tallies[i], u.Host, raw, *timeout, &stop)
		}()
	}
	time.Sleep(*dur)
	stop.Store(true)
	elapsed := time.Since(start)
	wg.Wait()
	report(tallies, elapsed)
}

// run drives one connection until stop, reconnecting after an error.
func run(t *tally, host string, req []byte, timeout time.Duration, stop *atomic.Bool) {
	var c *wire.Conn
	for !stop.Load() {
		if c == nil {
			var err error
			if c, err = wire.Dial(host, timeout); err != nil {
				t.connErr++
				time.Sleep(10 * time.Millisecond)
				continue
			}
		}
		begin := time.Now()
		c.SetDeadline(begin.Add(timeout))
		if _, err := c.Write(req); err != nil {
			t.writeErr++
			c.Close()
			c = nil
			continue
		}
		r, err := c.Read("")
		if err != nil {
			if isTimeout(err) {
				t.timeouts++
			} else if !stop.Load() {
				t.readErr++
			}
			c.Close()
			c = nil
			continue
		}
		t.lat = append(t.lat, time.Since(begin))
		t.reqs++
		t.bytes += r.Bytes
		if r.Status < 200 || r.Status > 399 {
			t.non2xx++
		}
		if r.Close { // the server ends the connection: dial anew, no error
			c.Close()
			c = nil
		}
	}
	if c != nil {
		c.Close()
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func report(ts []tally, elapsed time.Duration) {
	var all tally
	for _, t := range ts {
		all.reqs += t.reqs
		all.bytes += t.bytes
		all.non2xx += t.non2xx
		all.connErr += t.connErr
		all.readErr += t.readErr
		all.writeErr += t.writeErr
		all.timeouts += t.timeouts
		all.lat = append(all.lat, t.lat...)
	}
	slices.Sort(all.lat)
	pct := func(p float64) time.Duration {
		if len(all.lat) == 0 {
			return 0
		}
		return all.lat[min(len(all.lat)-1, int(p*float64(len(all.lat))))]
	}
	fmt.Println("  Latency Distribution")
	for _, p := range []float64{.5, .75, .9, .99} {
		fmt.Printf("     %.0f%%  %8.2fus\n", p*100, float64(pct(p).Nanoseconds())/1000)
	}
	fmt.Printf("  %d requests in %.2fs, %.2fMB read\n", all.reqs, elapsed.Seconds(), float64(all.bytes)/(1<<20))
	if e := all.connErr + all.readErr + all.writeErr + all.timeouts; e > 0 {
		fmt.Printf("  Socket errors: connect %d, read %d, write %d, timeout %d\n", all.connErr, all.readErr, all.writeErr, all.timeouts)
	}
	if all.non2xx > 0 {
		fmt.Printf("  Non-2xx or 3xx responses: %d\n", all.non2xx)
	}
	fmt.Printf("Requests/sec: %.2f\n", float64(all.reqs)/elapsed.Seconds())
	fmt.Printf("Transfer/sec: %.2fMB\n", float64(all.bytes)/elapsed.Seconds()/(1<<20))
}
