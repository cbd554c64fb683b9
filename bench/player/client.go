package player

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Client is the HTTP/1.1 client every viewer of a run shares: pooled
// keep-alive connections per target host, each dialed from the next
// loopback source address when the target is on loopback.
//
// It is purpose-built for memory per viewer. Most viewers are waiting at any
// moment (an LL-HLS blocking reload is held for a part duration), and a
// waiting viewer holds only its connection: it waits for the response's
// first byte with a one-byte read, on a shallow stack (a goroutine's stack
// is sized by its deepest call), and borrows a pooled read buffer only once
// that byte is there. Media bodies are counted and dropped, not kept.
type Client struct {
	maxConns  int
	sources   int
	timeout   time.Duration
	idleFor   time.Duration
	next      atomic.Uint32
	readers   sync.Pool // *bufio.Reader of bufSize
	writeBufs sync.Pool // *[]byte
	bodies    sync.Pool // *[]byte
	bufSize   int

	mu    sync.Mutex
	hosts map[string]*hostPool
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
	// Timeout bounds a request that is not a blocking reload, and the wait
	// for a free connection (default 10 s).
	Timeout time.Duration
	// ReadBufferSize is the pooled buffer a response is read through
	// (default 4 KiB; ours are about 400 bytes); every header line must fit
	// in it. It is borrowed when a response starts arriving, so waiting
	// viewers do not hold one. Media bodies bypass it.
	ReadBufferSize int
}

// NewClient returns a client for cfg.
func NewClient(cfg ClientConfig) *Client {
	if cfg.MaxConnsPerHost <= 0 {
		cfg.MaxConnsPerHost = 100000
		var l syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur > 2000 && l.Cur < 1<<30 {
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
		cfg.ReadBufferSize = 4 << 10
	}
	return &Client{
		maxConns: cfg.MaxConnsPerHost,
		sources:  min(cfg.SourceAddrs, 254),
		timeout:  cfg.Timeout,
		idleFor:  30 * time.Second,
		bufSize:  max(cfg.ReadBufferSize, 16),
		hosts:    make(map[string]*hostPool),
	}
}

// hostPool is the connections to one host:port.
type hostPool struct {
	addr string
	// slots holds a token per connection in use (busy, not idle): a
	// channel of empty structs costs no memory per slot.
	slots chan struct{}
	mu    sync.Mutex
	idle  []*conn // most recently used last
}

// conn is one keep-alive connection.
type conn struct {
	nc     net.Conn
	used   time.Time // when it went idle
	reused bool
	first  [1]byte // the response's first byte, read while waiting
	pend   bool    // first holds a byte not yet given to the reader
}

// Read gives the byte read while waiting, then reads the connection.
func (c *conn) Read(p []byte) (int, error) {
	if c.pend && len(p) > 0 {
		c.pend = false
		p[0] = c.first[0]
		return 1, nil
	}
	return c.nc.Read(p)
}

func (cl *Client) host(addr string) *hostPool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	h := cl.hosts[addr]
	if h == nil {
		h = &hostPool{addr: addr, slots: make(chan struct{}, cl.maxConns)}
		cl.hosts[addr] = h
	}
	return h
}

var errNoFreeConns = errors.New("no free connection within the timeout")

// acquire returns a connection to h: an idle one (unless fresh) or a new
// one, waiting for a slot while maxConns are in use.
func (cl *Client) acquire(h *hostPool, deadline time.Time, fresh bool) (*conn, error) {
	select {
	case h.slots <- struct{}{}:
	default:
		wait := min(time.Until(deadline), cl.timeout)
		if wait <= 0 {
			return nil, errNoFreeConns
		}
		t := time.NewTimer(wait)
		select {
		case h.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			return nil, errNoFreeConns
		}
	}
	h.mu.Lock()
	if n := len(h.idle); n > 0 && !fresh {
		c := h.idle[n-1]
		h.idle[n-1] = nil
		h.idle = h.idle[:n-1]
		if time.Since(c.used) < cl.idleFor {
			h.mu.Unlock()
			c.reused = true
			return c, nil
		}
		// The newest idle connection is stale: all below it are older.
		stale := append(h.idle, c)
		h.idle = nil
		h.mu.Unlock()
		for _, s := range stale {
			s.nc.Close()
		}
	} else {
		h.mu.Unlock()
	}
	c, err := cl.dial(h.addr, deadline)
	if err != nil {
		<-h.slots
		return nil, err
	}
	return c, nil
}

// putIdle returns a healthy connection to the pool.
func (h *hostPool) putIdle(c *conn) {
	c.used = time.Now()
	h.mu.Lock()
	h.idle = append(h.idle, c)
	h.mu.Unlock()
	<-h.slots
}

// closeIdleSince closes the idle connections that went idle at or before
// t: when one that went idle at t was found closed by the server (an idle
// timeout: Varnish's is 5 s), the older ones are closed too.
func (h *hostPool) closeIdleSince(t time.Time) {
	h.mu.Lock()
	keep := h.idle[:0]
	var stale []*conn
	for _, c := range h.idle {
		if c.used.After(t) {
			keep = append(keep, c)
		} else {
			stale = append(stale, c)
		}
	}
	clear(h.idle[len(keep):])
	h.idle = keep
	h.mu.Unlock()
	for _, c := range stale {
		c.nc.Close()
	}
}

// drop closes a connection that cannot be reused.
func (h *hostPool) drop(c *conn) {
	c.nc.Close()
	<-h.slots
}

func (cl *Client) dial(addr string, deadline time.Time) (*conn, error) {
	d := net.Dialer{Deadline: deadline}
	if host, _, err := net.SplitHostPort(addr); err == nil && cl.sources > 1 {
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() && ip.To4() != nil {
			n := cl.next.Add(1)%uint32(cl.sources) + 1
			d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(n))}
		}
	}
	nc, err := offload(func() (net.Conn, error) { return d.Dial("tcp", addr) })
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc}, nil
}

// offload runs f on a goroutine of its own and waits for it. A viewer's
// goroutine keeps the largest stack it ever needed (the runtime shrinks a
// stack only when a quarter of it would do), so the rare deep calls
// (dialing, parsing a playlist no other viewer parsed yet) run elsewhere and
// the viewer's stack stays sized for its waiting path.
func offload[T any](f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}

// response is one answer: Body (kept bodies only) is valid until release.
type response struct {
	Status int
	Body   []byte
	// Size is the body's length, kept or not.
	Size int64
	// Elapsed is from the request's start (connection wait included) to
	// the body's end.
	Elapsed time.Duration
	buf     *[]byte
	cl      *Client
}

func (r *response) release() {
	if r.buf != nil {
		*r.buf = r.Body[:0]
		r.cl.bodies.Put(r.buf)
		r.buf, r.Body = nil, nil
	}
}

// errStatus is a non-2xx answer.
type errStatus struct{ code int }

func (e errStatus) Error() string { return fmt.Sprintf("HTTP %d", e.code) }

// get fetches u with the given extra headers (pairs), waiting until
// deadline; keep says whether the body is wanted or only its length.
func (cl *Client) get(u string, deadline time.Time, keep bool, hdr ...string) (*response, error) {
	begin := time.Now()
	addr, host, path, err := splitURL(u)
	if err != nil {
		return nil, err
	}
	h := cl.host(addr)
	for attempt := 0; ; attempt++ {
		c, err := cl.acquire(h, deadline, attempt > 0)
		if err != nil {
			return nil, err
		}
		err = cl.send(c, deadline, host, path, hdr)
		if err == nil {
			// Waiting here is where a viewer spends most of its life: the
			// call chain above is short and nothing is borrowed yet.
			var n int
			n, err = c.nc.Read(c.first[:])
			c.pend = n == 1
		}
		if err != nil {
			h.drop(c)
			// A reused connection the server closed while it was idle
			// fails before any byte of the answer: the ones idle longer
			// are closed too, and the request is tried once on a new
			// connection (a second idle one could be just as stale).
			if c.reused && attempt == 0 && retryable(err) {
				h.closeIdleSince(c.used)
				continue
			}
			return nil, err
		}
		r, reuse, err := cl.receive(c, keep)
		if reuse {
			h.putIdle(c)
		} else {
			h.drop(c)
		}
		if err != nil {
			return nil, err
		}
		r.Elapsed = time.Since(begin)
		if r.Status < 200 || r.Status > 299 {
			r.release()
			return nil, errStatus{r.Status}
		}
		return r, nil
	}
}

// receive reads the response whose first byte arrived, with a pooled
// reader. reuse says whether the connection can carry another request.
func (cl *Client) receive(c *conn, keep bool) (r *response, reuse bool, err error) {
	br := cl.reader(c)
	r = new(response)
	r.cl = cl
	reuse, err = cl.readInto(br, r, keep)
	cl.putReader(br)
	if err != nil {
		r.release()
		return nil, false, err
	}
	return r, reuse, nil
}

// readInto reads the head and the body into r (out of line: see get).
//
//go:noinline
func (cl *Client) readInto(br *bufio.Reader, r *response, keep bool) (reuse bool, err error) {
	head, err := readHead(br)
	if err != nil {
		return false, eofUnexpected(err)
	}
	r.Status = head.status
	var dst *[]byte
	if keep && head.status >= 200 && head.status <= 299 {
		r.buf, _ = cl.bodies.Get().(*[]byte)
		if r.buf == nil {
			r.buf = new([]byte)
		}
		dst = r.buf
	}
	r.Size, err = readBody(br, &head, dst)
	if dst != nil {
		r.Body = *dst
	}
	// Anything more than this response means the stream is out of step.
	return !head.close && br.Buffered() == 0, err
}

// reader borrows a read buffer for c.
//
//go:noinline
func (cl *Client) reader(c *conn) *bufio.Reader {
	br, _ := cl.readers.Get().(*bufio.Reader)
	if br == nil {
		return bufio.NewReaderSize(c, cl.bufSize)
	}
	br.Reset(c)
	return br
}

//go:noinline
func (cl *Client) putReader(br *bufio.Reader) {
	br.Reset(nil)
	cl.readers.Put(br)
}

// CloseIdle closes idle connections (between workloads).
func (cl *Client) CloseIdle() {
	cl.mu.Lock()
	hosts := make([]*hostPool, 0, len(cl.hosts))
	for _, h := range cl.hosts {
		hosts = append(hosts, h)
	}
	cl.mu.Unlock()
	for _, h := range hosts {
		h.mu.Lock()
		idle := h.idle
		h.idle = nil
		h.mu.Unlock()
		for _, c := range idle {
			c.nc.Close()
		}
	}
}

// resolve makes ref absolute against base.
func resolve(base *url.URL, ref string) (*url.URL, error) {
	r, err := url.Parse(ref)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(r), nil
}

var errBehind = errors.New("fell behind the live window")
