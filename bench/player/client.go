package player

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Client is the HTTP client every viewer of a run shares: pooled keep-alive
// connections per target host, each dialed from the next loopback source
// address when the target is on loopback.
type Client struct {
	c       *fasthttp.Client
	next    atomic.Uint32
	sources int
}

// ClientConfig tunes the shared client.
type ClientConfig struct {
	// MaxConnsPerHost bounds open connections per target (default: the
	// descriptor limit less 1,000, as a process cannot hold more). Above it,
	// requests wait for a free connection (bounded by Timeout).
	MaxConnsPerHost int
	// SourceAddrs is how many 127.0.0.x source addresses to spread loopback
	// connections over (default 250; 0 or 1: the kernel's choice). Each
	// source address has its own ephemeral port range, so 20,000 viewers
	// never run out of ports towards one listener.
	SourceAddrs int
	// Timeout bounds a request that is not a blocking reload (default 10 s).
	Timeout time.Duration
	// ReadBufferSize is each connection's read buffer while a response is
	// awaited; response headers must fit in it (default 2 KiB: ours are
	// about 400 bytes). Every viewer blocked in an LL-HLS reload holds one,
	// so it is a large share of the memory per viewer.
	ReadBufferSize int
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) *Client {
	if cfg.MaxConnsPerHost <= 0 {
		cfg.MaxConnsPerHost = 100000
		var l syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur > 2000 && l.Cur < 101000 {
			cfg.MaxConnsPerHost = int(l.Cur) - 1000
		}
	}
	if cfg.SourceAddrs == 0 {
		cfg.SourceAddrs = 250
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 2 << 10
	}
	cl := &Client{sources: min(cfg.SourceAddrs, 254)}
	cl.c = &fasthttp.Client{
		Name:                      "livecdn-bench",
		MaxConnsPerHost:           cfg.MaxConnsPerHost,
		MaxIdleConnDuration:       30 * time.Second,
		ReadBufferSize:            cfg.ReadBufferSize,
		WriteBufferSize:           2 << 10,
		MaxConnWaitTimeout:        cfg.Timeout,
		MaxIdemponentCallAttempts: 1,
		DialTimeout:               cl.dial,
		// Header names as sent: nothing to normalize, and it saves work.
		DisableHeaderNamesNormalizing: true,
	}
	return cl
}

func (cl *Client) dial(addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	if host, _, err := net.SplitHostPort(addr); err == nil && cl.sources > 1 {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			n := cl.next.Add(1)%uint32(cl.sources) + 1
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}
		}
	}
	return d.Dial("tcp", addr)
}

// response is one answer: Body is valid until release.
type response struct {
	Status int
	Body   []byte
	// TTFB is when the header arrived; fasthttp reads a body whole, so for
	// small objects it is close to Elapsed.
	Elapsed time.Duration
	resp    *fasthttp.Response
}

func (r *response) release() {
	if r.resp != nil {
		fasthttp.ReleaseResponse(r.resp)
		r.resp = nil
	}
}

// errStatus is a non-2xx answer.
type errStatus struct{ code int }

func (e errStatus) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// get fetches u with the given extra headers (pairs), waiting until deadline.
func (cl *Client) get(u string, deadline time.Time, hdr ...string) (*response, error) {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.SetRequestURI(u)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp := fasthttp.AcquireResponse()
	begin := time.Now()
	err := cl.c.DoDeadline(req, resp, deadline)
	r := &response{Status: resp.StatusCode(), Body: resp.Body(), Elapsed: time.Since(begin), resp: resp}
	if err != nil {
		r.release()
		return nil, err
	}
	if r.Status < 200 || r.Status > 299 {
		r.release()
		return nil, errStatus{r.Status}
	}
	return r, nil
}

// CloseIdle closes idle connections (between workloads).
func (cl *Client) CloseIdle() { cl.c.CloseIdleConnections() }

// resolve makes ref absolute against base.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(r), nil
}

var errBehind = errors.New("fell behind the live window")
