// Command flash is the flash-crowd client of deploy/compare: it opens n
// keep-alive connections to a cache (warming each with one request for an
// object already cached), then sends n simultaneous first-time requests for
// one new object and reports the waiters' time to the first byte and to the
// last byte, measured from the crowd's start (ttfb_*, p50/p99/max) and from
// each request's own send (wait_*, last_*: the latency each viewer saw; the
// 500 requests leave over a few ms), the X-Cache results and whether every
// body had the expected length.
//
//	flash -base http://127.0.0.1:8081 -warm /live/bench/video/part100.0.m4s \
//	      -path /flash/live/bench/video/seg123.m4s -n 500 -bytes 1048576
//
// With -fill N it instead fetches N distinct objects (path with %d) at
// -c concurrency, to push a cache past its size bound.
//
// Responses are read with package wire (head parsed in place, body
// discarded in the kernel): a crowd's 500 responses wake 500 goroutines at
// once, and the less each spends before the next is scheduled, the less of
// the client's own time is in the latencies it reports.
package main

import (
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/livecdn/livecdn/deploy/compare/wire"
)

type result struct {
	ttfb, total time.Duration // from the crowd's start
	wait, last  time.Duration // from this request's own send: first byte, last byte
	status      int
	n           int64
	xcache      string
	err         error
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(p*float64(len(d))+0.5) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(d) {
		i = len(d) - 1
	}
	return d[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }

func main() {
	base := flag.String("base", "http://127.0.0.1:8081", "cache base URL")
	warm := flag.String("warm", "", "path of a cached object fetched once on every connection before the crowd")
	path := flag.String("path", "", "path of the new object the crowd asks for (with -fill: contains %d)")
	n := flag.Int("n", 500, "concurrent viewers")
	want := flag.Int64("bytes", -1, "expected body length (-1: do not check)")
	fill := flag.Int("fill", 0, "fetch this many distinct objects instead of a crowd")
	conc := flag.Int("c", 8, "concurrency of -fill")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request deadline")
	flag.Parse()
	u, err := url.Parse(*base)
	if err != nil || *path == "" {
		fmt.Fprintln(os.Stderr, "flash: need -base URL and -path")
		os.Exit(2)
	}
	if *fill > 0 {
		os.Exit(doFill(u.Host, *path, *fill, *conc, *want, *timeout))
	}
	conns := make([]*wire.Conn, *n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var setupErr error
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := wire.Dial(u.Host, 5*time.Second)
			if err == nil && *warm != "" {
				c.SetDeadline(time.Now().Add(*timeout))
				var r wire.Response
				if r, err = c.Get(u.Host, *warm, ""); err == nil && r.Status != http.StatusOK {
					err = fmt.Errorf("warm-up %s: status %d", *warm, r.Status)
				}
			}
			if err != nil {
				mu.Lock()
				setupErr = err
				mu.Unlock()
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if setupErr != nil {
		fmt.Fprintln(os.Stderr, "flash: setup:", setupErr)
		os.Exit(1)
	}
	results := make([]result, *n)
	start := make(chan struct{})
	var t0 time.Time
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns[i].Close()
			<-start
			conns[i].SetDeadline(t0.Add(*timeout))
			c := conns[i]
			r, err := c.Get(u.Host, *path, "X-Cache")
			end := time.Now()
			results[i] = result{ttfb: c.FirstByte.Sub(t0), total: end.Sub(t0), wait: c.FirstByte.Sub(c.Sent), last: end.Sub(c.Sent),
				status: r.Status, n: r.Length, xcache: string(r.Header), err: err}
		}()
	}
	time.Sleep(50 * time.Millisecond) // every goroutine is parked on start
	t0 = time.Now()
	close(start)
	wg.Wait()
	report(results, *want)
}

func report(results []result, want int64) {
	var ttfb, total, wait, last []time.Duration
	ok, bad := 0, 0
	xc := map[string]int{}
	var firstErr string
	for _, r := range results {
		if r.err != nil || r.status != http.StatusOK || (want >= 0 && r.n != want) {
			bad++
			if firstErr == "" {
				firstErr = fmt.Sprintf("status=%d bytes=%d err=%v", r.status, r.n, r.err)
			}
			continue
		}
		ok++
		ttfb = append(ttfb, r.ttfb)
		total = append(total, r.total)
		wait = append(wait, r.wait)
		last = append(last, r.last)
		x := r.xcache
		if x == "" {
			x = "-"
		}
		xc[x]++
	}
	slices.Sort(ttfb)
	for _, d := range [][]time.Duration{total, wait, last} {
		slices.Sort(d)
	}
	keys := make([]string, 0, len(xc))
	for k := range xc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, xc[k]))
	}
	fmt.Printf("ok=%d bad=%d ttfb_p50=%s ttfb_p99=%s p50=%s p99=%s max=%s wait_p50=%s wait_p99=%s last_p50=%s last_p99=%s xcache=%s\n",
		ok, bad, ms(pct(ttfb, .5)), ms(pct(ttfb, .99)), ms(pct(total, .5)), ms(pct(total, .99)), ms(pct(total, 1)),
		ms(pct(wait, .5)), ms(pct(wait, .99)), ms(pct(last, .5)), ms(pct(last, .99)), strings.Join(parts, ","))
	if firstErr != "" {
		fmt.Fprintln(os.Stderr, "flash: first failure:", firstErr)
	}
}

// doFill fetches count distinct objects, conc at a time, each on its own
// keep-alive connection; it returns the exit status.
func doFill(host, pathFmt string, count, conc int, want int64, timeout time.Duration) int {
	next := make(chan int)
	var mu sync.Mutex
	bad := 0
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *wire.Conn
			for i := range next {
				if c == nil {
					var err error
					if c, err = wire.Dial(host, 5*time.Second); err != nil {
						mu.Lock()
						bad++
						mu.Unlock()
						continue
					}
				}
				c.SetDeadline(time.Now().Add(timeout))
				r, err := c.Get(host, fmt.Sprintf(pathFmt, i), "")
				if err != nil || r.Status != http.StatusOK || (want >= 0 && r.Length != want) {
					mu.Lock()
					bad++
					mu.Unlock()
					if err != nil {
						c.Close()
						c = nil
					}
				}
			}
			if c != nil {
				c.Close()
			}
		}()
	}
	for i := 0; i < count; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	fmt.Printf("fill=%d bad=%d\n", count, bad)
	if bad > 0 {
		return 1
	}
	return 0
}
