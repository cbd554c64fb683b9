package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/livecdn/livecdn/edge/cache"
	"github.com/livecdn/livecdn/edge/follow"
	"github.com/livecdn/livecdn/edge/prefetch"
	"github.com/livecdn/livecdn/edge/route"
	"github.com/livecdn/livecdn/edge/rules"
	"github.com/livecdn/livecdn/edge/token"
)

// X-Cache results.
const (
	hit       = "HIT"
	miss      = "MISS"
	coalesced = "COALESCED"
	stale     = "STALE"
)

// request is what the handler parsed from a viewer request.
type request struct {
	path, query string // escaped path, raw query (token parameters removed)
	kind        rules.Kind
	key         string
	token       string // the viewer's token query, carried into playlists
	start       time.Time
	hop         int    // fleet hops before this node
	viaIn       []byte // the request's Via header (valid during the handler)
}

// The headers on every response, as bytes set without normalising.
var (
	hdrACAO, valACAO = []byte("Access-Control-Allow-Origin"), []byte("*")
	hdrACEH, valACEH = []byte("Access-Control-Expose-Headers"), []byte("Content-Length, Content-Range, ETag, Age, X-Cache, Date")
	hdrVia           = []byte("Via")
)

func (s *Server) fmtMetricsHandler() fasthttp.RequestHandler {
	if s.cfg.Gatherer == nil {
		return nil
	}
	return fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}))
}

func (s *Server) handle(ctx *fasthttp.RequestCtx) {
	h := &ctx.Response.Header
	h.SetCanonical(hdrACAO, valACAO)
	h.SetCanonical(hdrACEH, valACEH)
	h.SetCanonical(hdrVia, s.via)
	switch {
	case ctx.IsOptions():
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since, CMCD-Request, CMCD-Object, CMCD-Session, CMCD-Status")
		h.Set("Access-Control-Max-Age", "86400")
		ctx.SetStatusCode(http.StatusNoContent)
		return
	case string(ctx.Path()) == "/admin/drain":
		s.serveDrain(ctx)
		return
	case !ctx.IsGet() && !ctx.IsHead():
		h.Set("Allow", "GET, HEAD, OPTIONS")
		s.fail(ctx, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	uri := string(ctx.Request.Header.RequestURI()) // as received: fasthttp's parsed URI is normalized
	p, rawQuery, _ := strings.Cut(uri, "?")
	switch p {
	case "/healthz":
		ctx.SetBodyString("ok\n")
		return
	case "/readyz":
		if s.draining.Load() || (s.cfg.Ready != nil && !s.cfg.Ready()) {
			s.fail(ctx, http.StatusServiceUnavailable, "not ready")
			return
		}
		ctx.SetBodyString("ready\n")
		return
	case "/metrics":
		if mh := s.fmtMetricsHandler(); mh != nil {
			mh(ctx)
			return
		}
	case "/cluster":
		s.serveCluster(ctx)
		return
	}
	if err := rules.CheckPath(p); err != nil {
		s.fail(ctx, http.StatusBadRequest, err.Error())
		return
	}
	hop, ok := s.hops(ctx, p)
	if !ok {
		return
	}
	r := &request{path: p, query: rawQuery, kind: rules.Classify(p), start: time.Now(), hop: hop,
		viaIn: ctx.Request.Header.Peek("Via")}
	if s.cfg.Signer != nil && (strings.HasPrefix(p, "/live/") || strings.HasPrefix(p, "/replay/")) {
		if err := s.cfg.Signer.Verify(p, rawQuery, r.start); err != nil {
			s.fail(ctx, http.StatusForbidden, "forbidden: "+err.Error())
			return
		}
		if hop == 0 { // a peer caches what it gets: playlists go to it untouched
			r.token = token.Query(rawQuery)
		}
		r.query = token.StripQuery(rawQuery)
	}
	r.key = rules.Key(r.path, r.query, s.cfg.KeepQuery)
	s.cmcd(ctx, r)
	if r.kind == rules.Playlist && strings.Contains(r.query, "_HLS_msn=") {
		s.serveBlocking(ctx, r)
		return
	}
	s.serveCached(ctx, r)
}

// cmcd prefetches the next object a player announced (CTA-5004 nor).
func (s *Server) cmcd(ctx *fasthttp.RequestCtx, r *request) {
	q := ""
	if strings.Contains(r.query, "CMCD=") {
		if v, err := url.ParseQuery(r.query); err == nil {
			q = v.Get("CMCD")
		}
	}
	hdr := string(ctx.Request.Header.Peek("CMCD-Request"))
	if q == "" && hdr == "" {
		return
	}
	if next, ok := prefetch.CMCDNext(r.path, q, hdr); ok && rules.CheckPath(next) == nil {
		s.prefetch.Offer(next)
	}
}

// serveBlocking answers an LL-HLS blocking playlist request from the
// rendition's follower: one upstream request per part, whatever the viewers.
func (s *Server) serveBlocking(ctx *fasthttp.RequestCtx, r *request) {
	q, err := url.ParseQuery(r.query)
	if err != nil {
		s.fail(ctx, http.StatusBadRequest, "bad query")
		return
	}
	msn, err1 := strconv.ParseInt(q.Get("_HLS_msn"), 10, 64)
	part := -1
	var err2 error
	if v := q.Get("_HLS_part"); v != "" {
		part, err2 = strconv.Atoi(v)
	}
	if err1 != nil || err2 != nil || msn < 0 || part < -1 {
		s.fail(ctx, http.StatusBadRequest, "bad _HLS_msn or _HLS_part")
		return
	}
	l := s.legFor(r.path, r.hop, r.viaIn)
	f := l.follow.Get(r.path)
	result := hit
	snap, ok := f.Latest()
	if !ok || !snap.Has(msn, part) {
		result = coalesced
		s.metrics.held.Inc()
		wctx, cancel := s.waitContext()
		snap, err = f.Wait(wctx, msn, part)
		if errors.Is(err, follow.ErrClosed) { // it went idle just now: start another
			snap, err = l.follow.Get(r.path).Wait(wctx, msn, part)
		}
		cancel()
		s.metrics.held.Dec()
	}
	switch {
	case errors.Is(err, follow.ErrTooFar):
		s.fail(ctx, http.StatusBadRequest, "_HLS_msn is more than two segments ahead")
		return
	case errors.Is(err, follow.ErrTimeout):
		s.fail(ctx, http.StatusServiceUnavailable, "playlist did not advance in time")
		return
	case errors.Is(err, follow.ErrGone):
		s.fail(ctx, http.StatusNotFound, "not found upstream")
		return
	case err != nil:
		s.fail(ctx, http.StatusBadGateway, "upstream: "+err.Error())
		return
	}
	s.prefetchSnapshot(r.path, snap)
	s.respond(ctx, r, cache.Complete(r.key, http.StatusOK, snap.Header, snap.Body), result)
}

// waitContext bounds how long a request may wait for the upstream or a
// follower. fasthttp cannot tell when a viewer hangs up mid-request, so the
// bound (and shutdown, which cancels s.base) is what frees a held request.
func (s *Server) waitContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, 30*time.Second)
}

// serveCached is the cache path: hit, or one fetch per key shared by every
// concurrent miss, or the stale copy when the upstream fails.
func (s *Server) serveCached(ctx *fasthttp.RequestCtx, r *request) {
	now := r.start
	old, found := s.cache.Get(r.key)
	if found && old.Fresh(now) {
		if st := old.Status(); st != 0 {
			s.respond(ctx, r, old, hit)
			return
		}
	}
	l := s.legFor(r.path, r.hop, r.viaIn) // on a miss only: it consults the ring
	o, leader := l.flights.Do(r.key, s.fetcher(r.path, r.query, r.kind, "miss", l))
	result := miss
	if !leader {
		result = coalesced
		s.metrics.coalesced.Inc()
	}
	wctx, cancel := s.waitContext()
	defer cancel()
	status, _, err := o.WaitHeader(wctx)
	if err != nil || status >= 500 {
		if found && old.ServableStale(now) {
			s.respond(ctx, r, old, stale)
			return
		}
		code := http.StatusBadGateway
		if errors.Is(err, context.DeadlineExceeded) {
			code = http.StatusGatewayTimeout
		}
		if err == nil {
			err = fmt.Errorf("upstream answered %d", status)
		}
		s.fail(ctx, code, "upstream: "+err.Error())
		return
	}
	s.respond(ctx, r, o, result)
}

func (s *Server) fail(ctx *fasthttp.RequestCtx, code int, msg string) {
	ctx.Response.Header.Set("Cache-Control", "no-store")
	if code == http.StatusBadGateway || code == http.StatusGatewayTimeout {
		// This node is fine; what is behind it failed. A peer asking
		// through this node must not route around it for that.
		ctx.Response.Header.Set(route.UpstreamErrorHeader, "1")
	}
	if code == http.StatusNotFound {
		ctx.Response.Header.Set("Cache-Control", "public, max-age=0")
	}
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.SetStatusCode(code)
	ctx.SetBodyString(msg + "\n")
	s.metrics.requests.WithLabelValues(strconv.Itoa(code), "ERROR").Inc()
}
