package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

var _ Upstream = (*Origins)(nil)

// ErrUnavailable is matched (errors.Is) by the error Fetch returns when no
// origin gave a usable answer; the error is an *UnavailableError.
var ErrUnavailable = errors.New("no origin available")

// ErrHeaderTimeout is the cause recorded when an origin sent no response
// headers within ResponseHeaderTimeout.
var ErrHeaderTimeout = errors.New("no response headers in time")

// UnavailableError is returned by Fetch when every origin failed: a connect
// error, a timeout before headers, or a 5xx. It matches both ErrUnavailable
// and the last cause.
type UnavailableError struct {
	// Status is the last 5xx status an origin answered, or 0 if none
	// answered at all. The edge can relay it (e.g. the 503 an origin sends
	// when a blocking playlist request times out) instead of a generic 502.
	Status int
	// Tried is how many origins were asked.
	Tried int
	// Err is the last origin's failure.
	Err error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("%v (tried %d): %v", ErrUnavailable, e.Tried, e.Err)
}

// Unwrap lets errors.Is match ErrUnavailable and the last cause.
func (e *UnavailableError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }

// StatusError is the cause recorded for a 5xx answer.
type StatusError struct {
	Origin string
	Status int
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d %s", e.Origin, e.Status, http.StatusText(e.Status))
}

// Origins is the origin list: a primary and backups fetched over HTTP with
// immediate failover, plus a background health prober that orders them.
type Origins struct {
	cfg     OriginsConfig
	rt      *http.Transport
	ownRT   bool
	log     *slog.Logger
	metrics *metrics
	origins []*origin

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

// NewOrigins validates cfg, fills its defaults and starts the health prober;
// Close stops it. Every origin starts healthy, so the primary is tried first
// until a probe or a fetch says otherwise.
func NewOrigins(cfg OriginsConfig) (*Origins, error) {
	cfg = cfg.withDefaults()
	if len(cfg.URLs) == 0 {
		return nil, errors.New("upstream: no origin URL")
	}
	if !strings.HasPrefix(cfg.HealthPath, "/") {
		return nil, fmt.Errorf("upstream: health path %q must start with /", cfg.HealthPath)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	o := &Origins{cfg: cfg, rt: cfg.Transport, log: cfg.Logger, metrics: m, done: make(chan struct{})}
	if o.rt == nil {
		o.rt, o.ownRT = NewTransport(cfg.ConnectTimeout), true
	}
	seen := map[string]bool{}
	for _, raw := range cfg.URLs {
		base, err := parseBase(raw)
		if err != nil {
			return nil, err
		}
		if seen[base] {
			return nil, fmt.Errorf("upstream: origin %s listed twice", base)
		}
		seen[base] = true
		o.origins = append(o.origins, newOrigin(base, m))
	}
	ctx, cancel := context.WithCancel(context.Background())
	o.stop = cancel
	if cfg.HealthInterval > 0 {
		go o.probeLoop(ctx)
	} else {
		close(o.done)
	}
	return o, nil
}

// parseBase checks an origin URL and returns it without a trailing slash,
// ready to have a request URI appended.
func parseBase(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("upstream: origin %q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("upstream: origin %q: want http://host[:port][/prefix]", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("upstream: origin %q: no query, fragment or user info allowed", raw)
	}
	return strings.TrimSuffix(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Close stops the health prober and waits for it; it does not interrupt
// fetches in flight. Idle connections of a transport built by NewOrigins are
// closed. Fetch still works after Close, without probing.
func (o *Origins) Close() error {
	o.closeOnce.Do(func() {
		o.stop()
		<-o.done
		if o.ownRT {
			o.rt.CloseIdleConnections()
		}
	})
	return nil
}

// Fetch asks the origins in order (healthy ones first, each group in
// configured order, unhealthy ones as a last resort) and returns the first
// answer below 500; a 4xx such as 404 is an answer and is returned as is,
// and so is a 3xx (redirects are not followed: the edge relays them).
// A connect error, no headers within ResponseHeaderTimeout, or a 5xx moves
// on to the next origin at once and marks the failed one unhealthy. When all
// fail the error is an *UnavailableError (errors.Is ErrUnavailable); when
// ctx ends first, the error wraps ctx's error and no origin is blamed.
// The Response body streams; the caller must close it.
func (o *Origins) Fetch(ctx context.Context, r *Request) (*Response, error) {
	var last error
	status, tried := 0, 0
	for _, org := range o.order() {
		tried++
		resp, err := o.try(ctx, org, r)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("upstream %s: %w", org.url, context.Cause(ctx))
		}
		var se *StatusError
		if errors.As(err, &se) {
			status = se.Status
		}
		var re *requestError
		if errors.As(err, &re) {
			return nil, err // the request itself is bad: no origin would take it
		}
		last = err
	}
	return nil, &UnavailableError{Status: status, Tried: tried, Err: last}
}

// requestError marks a request that cannot be built, whatever the origin.
type requestError struct{ err error }

func (e *requestError) Error() string { return "upstream: bad request: " + e.err.Error() }
func (e *requestError) Unwrap() error { return e.err }

// try makes one request to one origin, recording the outcome in the
// origin's health and the metrics. A nil error means a response below 500.
func (o *Origins) try(ctx context.Context, org *origin, r *Request) (*Response, error) {
	start := time.Now()
	resp, cancel, err := Get(ctx, o.rt, org.url, r, o.cfg.ResponseHeaderTimeout)
	if err != nil {
		var re *requestError
		switch {
		case errors.As(err, &re):
			return nil, err
		case ctx.Err() != nil:
			o.metrics.requests.WithLabelValues(org.url, resultCanceled).Inc()
			return nil, err
		}
		o.metrics.requests.WithLabelValues(org.url, resultError).Inc()
		org.fail(o.log, err)
		o.log.Debug("origin fetch failed", "origin", org.url, "uri", r.URI(), "err", err)
		return nil, err
	}
	o.metrics.fetch.WithLabelValues(org.url).Observe(time.Since(start).Seconds())
	// A 503 to an LL-HLS blocking reload means "the part did not come in
	// time" (rfc8216bis 6.2.5.2): an answer about the stream, not a sick origin.
	if Failed(resp.StatusCode, r) {
		discard(resp.Body, cancel)
		err := &StatusError{Origin: org.url, Status: resp.StatusCode}
		o.metrics.requests.WithLabelValues(org.url, result5xx).Inc()
		org.fail(o.log, err)
		o.log.Debug("origin fetch failed", "origin", org.url, "uri", r.URI(), "err", err)
		return nil, err
	}
	result := resultOK
	if resp.StatusCode >= 400 {
		result = result4xx
	}
	o.metrics.requests.WithLabelValues(org.url, result).Inc()
	org.succeed(o.log)
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: &body{resp.Body, cancel}}, nil
}

// Failed reports whether an upstream's answer means "try another one":
// any 5xx, except a 503 to an LL-HLS blocking reload, which means "the part
// did not come in time" (rfc8216bis 6.2.5.2): an answer about the stream,
// not a sick upstream.
func Failed(status int, r *Request) bool {
	return status >= 500 && !(status == http.StatusServiceUnavailable && strings.Contains(r.Query, "_HLS_msn="))
}

// Get makes one GET of base + r's URI through rt. Response headers must
// arrive within headerTimeout (ErrHeaderTimeout otherwise); the body is
// not timed, because live bodies stream. The request's context lives as
// long as the body: call cancel after closing it (or wrap both, as
// Origins does). A request that cannot be built is a requestError.
func Get(ctx context.Context, rt http.RoundTripper, base string, r *Request, headerTimeout time.Duration) (*http.Response, context.CancelCauseFunc, error) {
	uri := r.URI()
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, base+uri, nil)
	if err != nil {
		cancel(nil)
		return nil, nil, &requestError{err}
	}
	if r.Header != nil {
		req.Header = r.Header.Clone()
	}
	timer := time.AfterFunc(headerTimeout, func() { cancel(ErrHeaderTimeout) })
	resp, err := rt.RoundTrip(req)
	inTime := timer.Stop()
	if err == nil && !inTime {
		// Headers arrived as the timer fired: the body's context is gone.
		resp.Body.Close()
		err = ErrHeaderTimeout
	}
	if err != nil {
		cancel(nil)
		if !inTime && ctx.Err() == nil {
			return nil, nil, fmt.Errorf("%s: %w (%v)", base, ErrHeaderTimeout, headerTimeout)
		}
		return nil, nil, fmt.Errorf("%s: %w", base, err)
	}
	return resp, cancel, nil
}

// NewBody wraps an http.Response body so that closing it also ends the
// request context Get returned.
func NewBody(b io.ReadCloser, cancel context.CancelCauseFunc) io.ReadCloser { return &body{b, cancel} }

// Discard drains a small error body so the connection can be reused, but
// never waits long for it, then ends the request context.
func Discard(b io.ReadCloser, cancel context.CancelCauseFunc) { discard(b, cancel) }

// body ends the request context when the caller closes the body.
type body struct {
	io.ReadCloser
	cancel context.CancelCauseFunc
}

func (b *body) Close() error {
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}

// discard reads a small error body to its end, so the connection can be
// reused, but never waits long for it: an origin that answers 5xx slowly is
// not worth delaying the failover for.
func discard(b io.ReadCloser, cancel context.CancelCauseFunc) {
	t := time.AfterFunc(50*time.Millisecond, func() { cancel(nil) })
	_, _ = io.CopyN(io.Discard, b, 4<<10)
	t.Stop()
	b.Close()
	cancel(nil)
}
