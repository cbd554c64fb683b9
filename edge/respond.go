package edge

import (
	"bufio"
	"context"
	"fmt"
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

// respond writes o to the viewer: headers at once, then the body — all of it
// when complete, or streamed as it arrives (read-while-writer).
func (s *Server) respond(ctx *fasthttp.RequestCtx, r *request, o *cache.Object, result string) {
	status, hdr := o.Status(), o.Header()
	h := &ctx.Response.Header
	for _, name := range storedHeaders {
		if v := hdr.Get(name); v != "" {
			h.Set(name, v)
		}
	}
	h.Set("X-Cache", result)
	h.Set("Age", strconv.Itoa(int(o.Age(time.Now()).Seconds())))
	if o.Hit() {
		s.metrics.prefetchHits.Inc()
		s.prefetch.Served(int64(len(o.Body())))
	}
	s.metrics.requests.WithLabelValues(strconv.Itoa(status), result).Inc()
	s.metrics.latency.WithLabelValues(result).Observe(time.Since(r.start).Seconds())
	if status == http.StatusOK && notModified(ctx, hdr) {
		ctx.SetStatusCode(http.StatusNotModified)
		ctx.Response.SkipBody = true
		return
	}
	ctx.SetStatusCode(status)
	done, _ := o.Done()
	textual := r.kind == rules.Playlist || r.kind == rules.MPD
	if !done && !textual {
		s.stream(ctx, o)
		return
	}
	body, err := wholeBody(o)
	if err != nil {
		ctx.ResetBody()
		s.fail(ctx, http.StatusBadGateway, "upstream: "+err.Error())
		return
	}
	if textual && r.token != "" && status == http.StatusOK {
		if r.kind == rules.Playlist {
			body = token.RewriteHLS(body, r.token)
		} else {
			body = token.RewriteMPD(body, r.token)
		}
		h.Del("ETag") // the body now differs per viewer
	}
	if textual && status == http.StatusOK && len(body) > 512 && ctx.Request.Header.HasAcceptEncoding("gzip") {
		body = fasthttp.AppendGzipBytes(nil, body)
		h.Set("Content-Encoding", "gzip")
		h.Set("Vary", "Accept-Encoding")
	}
	if rng := ctx.Request.Header.Peek("Range"); len(rng) > 0 && status == http.StatusOK && !textual {
		start, end, ok := ParseRange(string(rng), len(body))
		if !ok {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", len(body)))
			ctx.SetStatusCode(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end, len(body)))
		ctx.SetStatusCode(http.StatusPartialContent)
		body = body[start : end+1]
	}
	h.Set("Accept-Ranges", "bytes")
	s.metrics.bytesOut.Add(float64(len(body)))
	ctx.Response.SetBodyRaw(body)
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

// stream sends a body that is still arriving, flushing each chunk so the
// viewer gets the bytes as soon as the edge does.
func (s *Server) stream(ctx *fasthttp.RequestCtx, o *cache.Object) {
	if ctx.IsHead() {
		return
	}
	ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
		c, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		defer cancel()
		for off := 0; ; {
			b, done, err := o.Next(c, off)
			if err != nil {
				return // the connection is closed mid-body: the viewer sees a short read
			}
			if _, err := w.Write(b); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
			off += len(b)
			s.metrics.bytesOut.Add(float64(len(b)))
			if done {
				return
			}
		}
	})
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
