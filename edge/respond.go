package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/livecdn/livecdn/edge/cache"
	"github.com/livecdn/livecdn/edge/rules"
	"github.com/livecdn/livecdn/edge/token"
)

// storedHeaders are the upstream response headers an object keeps and replays.
var storedHeaders = []string{"Content-Type", "Cache-Control", "ETag", "Last-Modified", "Expires", "Content-Language"}

// Header names and values set on every response, as bytes so fasthttp
// neither normalises nor converts them per request.
var (
	hdrXCache        = []byte("X-Cache")
	hdrAge           = []byte("Age")
	hdrAcceptRanges  = []byte("Accept-Ranges")
	hdrContentEnc    = []byte("Content-Encoding")
	hdrVary          = []byte("Vary")
	valBytes         = []byte("bytes")
	valGzip          = []byte("gzip")
	valAcceptEncding = []byte("Accept-Encoding")
	resultValues     = map[string][]byte{hit: []byte(hit), miss: []byte(miss), coalesced: []byte(coalesced), stale: []byte(stale)}
)

// respond writes o to the viewer: headers at once, then the body — from
// the object's file by sendfile when sealed, from memory when small, or
// streamed as it arrives (read-while-writer).
func (s *Server) respond(ctx *fasthttp.RequestCtx, r *request, o *cache.Object, result string) {
	v := o.Hit()
	h := &ctx.Response.Header
	for _, f := range v.Fields {
		h.SetCanonical(f.Name, f.Value)
	}
	h.SetCanonical(hdrXCache, resultValues[result])
	var num [20]byte
	age := max(int64(r.start.Sub(v.Stored)/time.Second), 0)
	h.SetCanonical(hdrAge, strconv.AppendInt(num[:0], age, 10))
	if v.FirstPrefetchHit {
		s.metrics.prefetchHits.Inc()
		s.prefetch.Served(int64(v.Len()))
	}
	s.metrics.observe(v.Status, result, time.Since(r.start))
	if v.Status == http.StatusOK && notModified(ctx, v.Header) {
		ctx.SetStatusCode(http.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetStatusCode(v.Status)
	textual := r.kind == rules.Playlist || r.kind == rules.MPD
	if !v.Done && !textual {
		s.stream(ctx, o, v.Length, v.Len())
		return
	}
	if v.Err != nil {
		s.fail(ctx, http.StatusBadGateway, "upstream: "+v.Err.Error())
		return
	}
	if v.File != nil {
		s.sendSealed(ctx, v)
		return
	}
	body := v.Body
	if !v.Done { // a playlist or MPD still arriving: tokens and gzip need the whole text
		var err error
		if body, err = wholeBody(o); err != nil {
			s.fail(ctx, http.StatusBadGateway, "upstream: "+err.Error())
			return
		}
	}
	rewritten := false
	if textual && r.token != "" && v.Status == http.StatusOK {
		if r.kind == rules.Playlist {
			body = token.RewriteHLS(body, r.token)
		} else {
			body = token.RewriteMPD(body, r.token)
		}
		rewritten = true
		h.Del("ETag") // the body now differs per viewer
	}
	if textual && v.Status == http.StatusOK && len(body) > 512 && ctx.Request.Header.HasAcceptEncoding("gzip") {
		if rewritten { // per viewer: compress fast
			body = fasthttp.AppendGzipBytesLevel(nil, body, fasthttp.CompressBestSpeed)
		} else { // once per playlist version, kept with the object
			body = o.Encoded(gzipBody)
		}
		h.SetCanonical(hdrContentEnc, valGzip)
		h.SetCanonical(hdrVary, valAcceptEncding)
	}
	if rng := ctx.Request.Header.Peek("Range"); len(rng) > 0 && v.Status == http.StatusOK && !textual {
		start, end, ok := s.contentRange(ctx, rng, len(body))
		if !ok {
			return
		}
		body = body[start : end+1]
	}
	h.SetCanonical(hdrAcceptRanges, valBytes)
	s.metrics.bytesOut.Add(float64(len(body)))
	ctx.Response.SetBodyRaw(body)
}

func gzipBody(b []byte) []byte { return fasthttp.AppendGzipBytes(nil, b) }

// contentRange answers a Range header for a body of size bytes: 206 with
// Content-Range and the inclusive range, or 416 and ok false.
func (s *Server) contentRange(ctx *fasthttp.RequestCtx, rng []byte, size int) (start, end int, ok bool) {
	h := &ctx.Response.Header
	start, end, ok = ParseRange(string(rng), size)
	if !ok {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		ctx.SetStatusCode(http.StatusRequestedRangeNotSatisfiable)
		return 0, 0, false
	}
	h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, size))
	ctx.SetStatusCode(http.StatusPartialContent)
	return start, end, true
}

// sendSealed answers from a sealed object's file (whole or a range) with
// sendfile: the headers are flushed first so the file's bytes can go to
// the socket directly.
func (s *Server) sendSealed(ctx *fasthttp.RequestCtx, v cache.View) {
	off, n := int64(0), int64(v.Size)
	if rng := ctx.Request.Header.Peek("Range"); len(rng) > 0 && v.Status == http.StatusOK {
		start, end, ok := s.contentRange(ctx, rng, v.Size)
		if !ok {
			return
		}
		off, n = int64(start), int64(end-start+1)
	}
	ctx.Response.Header.SetCanonical(hdrAcceptRanges, valBytes)
	if ctx.IsHead() {
		ctx.Response.Header.SetContentLength(int(n))
		ctx.Response.SkipBody = true
		return
	}
	b := fileBodies.Get().(*fileBody)
	*b = fileBody{conn: ctx.Conn(), f: v.File, off: off, n: n, counter: s.metrics.bytesOut}
	if n > 0 {
		holdNext(ctx.Conn()) // the headers wait for the file's first bytes
	}
	ctx.Response.ImmediateHeaderFlush = true
	ctx.Response.SetBodyStream(b, int(n))
}

// wholeBody waits for a playlist or MPD to finish arriving (they are small,
// and tokens and gzip need the whole text).
func wholeBody(o *cache.Object) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for off := 0; ; {
		b, done, err := o.Next(ctx, off)
		if err != nil {
			return nil, err
		}
		off += len(b)
		if done {
			return o.Body(), nil
		}
	}
}

// stream sends a body that is still arriving. With the upstream's
// Content-Length the bytes go to the connection as they come (streamBody);
// without it, chunked, flushing each piece so the viewer gets the bytes as
// soon as the edge does.
func (s *Server) stream(ctx *fasthttp.RequestCtx, o *cache.Object, length int64, avail int) {
	if ctx.IsHead() {
		if length >= 0 {
			ctx.Response.Header.SetContentLength(int(length))
			ctx.Response.SkipBody = true
		}
		return
	}
	if length >= 0 {
		if length > 0 && avail > 0 { // streamBody writes these bytes right after the headers
			holdNext(ctx.Conn())
		}
		ctx.Response.ImmediateHeaderFlush = true
		ctx.Response.SetBodyStream(&streamBody{conn: ctx.Conn(), o: o, n: length, timeout: s.cfg.WriteTimeout,
			counter: s.metrics.bytesOut}, int(length))
		return
	}
	c, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
	ctx.Response.ImmediateHeaderFlush = true
	ctx.SetBodyStream(&chunkedBody{o: o, ctx: c, cancel: cancel, counter: s.metrics.bytesOut}, -1)
}

// chunkedBody reads a growing object of unknown length for fasthttp's
// chunked writer, which sends (and flushes) a chunk per Read. An upstream
// failure mid-body is returned as an error, so fasthttp drops the
// connection without the final empty chunk: the viewer (or the peer edge
// reading through this one) sees a failed response, never a short one
// that looks complete and would be cached as such.
type chunkedBody struct {
	o       *cache.Object
	ctx     context.Context
	cancel  context.CancelFunc
	counter interface{ Add(float64) }
	off     int
	pending []byte
	done    bool
}

func (b *chunkedBody) Read(p []byte) (int, error) {
	if len(b.pending) == 0 {
		if b.done {
			return 0, io.EOF
		}
		data, done, err := b.o.Next(b.ctx, b.off)
		if err != nil {
			return 0, err
		}
		b.off += len(data)
		b.pending, b.done = data, done
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	b.counter.Add(float64(n))
	if len(b.pending) == 0 && b.done {
		return n, io.EOF
	}
	return n, nil
}

// Close is called by fasthttp when the response is done or abandoned.
func (b *chunkedBody) Close() error {
	b.cancel()
	return nil
}

// notModified applies If-None-Match (preferred) or If-Modified-Since.
func notModified(ctx *fasthttp.RequestCtx, h http.Header) bool {
	if inm := string(ctx.Request.Header.Peek("If-None-Match")); inm != "" {
		etag := h.Get("ETag")
		if etag == "" {
			return false
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
				return true
			}
		}
		return false
	}
	ims := string(ctx.Request.Header.Peek("If-Modified-Since"))
	lm := h.Get("Last-Modified")
	if ims == "" || lm == "" {
		return false
	}
	t1, err1 := http.ParseTime(ims)
	t2, err2 := http.ParseTime(lm)
	return err1 == nil && err2 == nil && !t2.After(t1)
}
