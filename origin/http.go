package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/livecdn/livecdn/origin/live"
)

// Cache-Control values, per the cache rules of DESIGN.md.
const (
	ccImmutable = "public, max-age=31536000, immutable"
	// Playlists change every part: one second is half a default target
	// duration, the finest max-age HTTP can say.
	ccPlaylist = "public, max-age=1"
	// A 404 may be for an object the playlist will name in a moment.
	ccNotFound = "public, max-age=0"
	ccNoStore  = "no-store"
)

var _ http.Handler = (*Origin)(nil)

// ServeHTTP implements http.Handler: the URL scheme of DESIGN.md.
func (o *Origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "Content-Length, Content-Range, ETag, Age, Date")
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Range, If-None-Match, If-Modified-Since, CMCD-Request, CMCD-Object, CMCD-Session, CMCD-Status")
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD, OPTIONS")
		o.fail(w, "other", http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	path := r.URL.EscapedPath()
	if strings.ContainsRune(r.URL.Path, 0) {
		o.fail(w, "other", http.StatusBadRequest, "bad path")
		return
	}
	switch {
	case strings.HasPrefix(path, "/live/"):
		o.serveLive(w, r, path)
	case strings.HasPrefix(path, "/replay/"):
		o.serveReplay(w, r, path)
	case strings.HasPrefix(path, "/api/clip/"):
		o.serveClip(w, r, path)
	case path == "/healthz":
		h.Set("Cache-Control", ccNoStore)
		fmt.Fprintln(w, "ok")
	case path == "/readyz":
		h.Set("Cache-Control", ccNoStore)
		if !o.ready.Load() {
			o.fail(w, "other", http.StatusServiceUnavailable, "draining")
			return
		}
		fmt.Fprintln(w, "ready")
	case path == "/metrics" && o.cfg.Gatherer != nil:
		promhttp.HandlerFor(o.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	case path == "/api/streams":
		o.serveStreams(w)
	case path == "/api/time":
		h.Set("Cache-Control", ccNoStore)
		h.Set("Content-Type", "text/plain")
		fmt.Fprint(w, time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
	case o.cfg.Home != nil && !strings.HasPrefix(path, "/live") && !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/replay"):
		o.cfg.Home.ServeHTTP(w, r)
	default:
		o.fail(w, "other", http.StatusNotFound, "not found")
	}
}

func (o *Origin) fail(w http.ResponseWriter, kind string, code int, msg string) {
	h := w.Header()
	if code == http.StatusNotFound {
		h.Set("Cache-Control", ccNotFound)
	} else {
		h.Set("Cache-Control", ccNoStore)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	fmt.Fprintln(w, msg)
	o.metrics.requests.WithLabelValues(kind, fmt.Sprint(code)).Inc()
}

func (o *Origin) serveLive(w http.ResponseWriter, r *http.Request, path string) {
	rt, err := parseLivePath(path)
	if err != nil {
		o.fail(w, "other", http.StatusBadRequest, err.Error())
		return
	}
	st := o.streams.Get(rt.stream)
	if st == nil {
		o.fail(w, "other", http.StatusNotFound, "unknown stream")
		return
	}
	if rt.rendition == "" {
		if rt.file == "manifest.mpd" {
			o.serveMPD(w, r, st)
		} else {
			o.serveMultivariant(w, r, st)
		}
		return
	}
	rend := st.Rendition(rt.rendition)
	if rend == nil {
		o.fail(w, "other", http.StatusNotFound, "unknown rendition")
		return
	}
	obj, _ := live.ParseObject(rt.file)
	switch obj.Kind {
	case live.KindPlaylist:
		o.serveMedia(w, r, st, rend)
	case live.KindInit:
		o.serveInit(w, r, st.Name, rend, obj.Session)
	case live.KindSegment:
		o.serveSegment(w, r, st.Name, rend, obj.MSN)
	case live.KindPart:
		o.servePart(w, r, rend, obj.MSN, obj.Part)
	}
}

// serveBytes answers with immutable or playlist content; http.ServeContent
// handles HEAD, Range and the conditional headers. An immutable object's name
// never changes bytes, so its ETag comes from the name and length without
// reading the body; playlists are hashed.
func (o *Origin) serveBytes(w http.ResponseWriter, r *http.Request, kind, ctype, cc string, mod time.Time, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Cache-Control", cc)
	if cc == ccImmutable {
		name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		h.Set("ETag", fmt.Sprintf(`"%s-%x"`, strings.TrimSuffix(strings.TrimSuffix(name, ".m4s"), ".mp4"), len(body)))
	} else {
		f := fnv.New64a()
		f.Write(body)
		h.Set("ETag", fmt.Sprintf(`"%x"`, f.Sum64()))
	}
	o.metrics.requests.WithLabelValues(kind, "200").Inc()
	http.ServeContent(w, r, "", mod, bytes.NewReader(body))
}

func (o *Origin) serveInit(w http.ResponseWriter, r *http.Request, stream string, rend *live.Rendition, session int) {
	b, ok := rend.Init(session)
	if !ok {
		if o.serveFromArchive(w, r, "init", stream, rend.Name, live.InitName(session)) {
			return
		}
		o.fail(w, "init", http.StatusNotFound, "no such init section")
		return
	}
	o.serveBytes(w, r, "init", "video/mp4", ccImmutable, time.Time{}, b)
}

func (o *Origin) servePart(w http.ResponseWriter, r *http.Request, rend *live.Rendition, msn int64, idx int) {
	// A part named by a preload hint is held until it is written.
	ctx, cancel := context.WithTimeout(r.Context(), o.cfg.BlockTimeout)
	defer cancel()
	o.metrics.blocking.Inc()
	data, err := rend.PartData(ctx, msn, idx)
	o.metrics.blocking.Dec()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		o.fail(w, "part", http.StatusServiceUnavailable, "part not ready in time")
	case err != nil:
		o.fail(w, "part", http.StatusNotFound, "no such part")
	default:
		o.serveBytes(w, r, "part", "video/mp4", ccImmutable, time.Time{}, data)
	}
}

func (o *Origin) serveSegment(w http.ResponseWriter, r *http.Request, stream string, rend *live.Rendition, msn int64) {
	if seg, ok := rend.Segment(msn); ok && seg.Complete {
		o.serveBytes(w, r, "segment", "video/mp4", ccImmutable, seg.PDT, seg.Data())
		return
	}
	// Older than the window: the archive has the same name with the same
	// bytes (players rewinding in the live MPD's time-shift buffer ask here).
	if last, _, ok := rend.Last(); ok && msn < last && o.serveFromArchive(w, r, "segment", stream, rend.Name, live.SegmentName(msn)) {
		return
	}
	// The segment in progress (or the next one) goes out chunked as its parts
	// are written: LL-DASH players ask for it before it is complete.
	ctx, cancel := context.WithTimeout(r.Context(), 2*o.cfg.BlockTimeout)
	defer cancel()
	started := false
	err := rend.StreamSegment(ctx, msn, func(b []byte) error {
		if !started {
			started = true
			h := w.Header()
			h.Set("Content-Type", "video/mp4")
			h.Set("Cache-Control", ccImmutable)
			w.WriteHeader(http.StatusOK)
			o.metrics.requests.WithLabelValues("segment", "200").Inc()
			if r.Method == http.MethodHead {
				return errHead
			}
		}
		if _, err := w.Write(b); err != nil {
			return err
		}
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return nil
	})
	if !started {
		if errors.Is(err, context.DeadlineExceeded) {
			o.fail(w, "segment", http.StatusServiceUnavailable, "segment not ready in time")
		} else {
			o.fail(w, "segment", http.StatusNotFound, "no such segment")
		}
	}
}

var errHead = errors.New("head request: no body")

// serveFromArchive answers with an archived object when there is one.
func (o *Origin) serveFromArchive(w http.ResponseWriter, r *http.Request, kind, stream, rendition, name string) bool {
	if o.cfg.Archive == nil {
		return false
	}
	b, err := o.cfg.Archive.Open(r.Context(), stream, rendition, name)
	if err != nil {
		return false
	}
	o.serveBytes(w, r, kind, "video/mp4", ccImmutable, time.Time{}, b)
	return true
}

// streamJSON is one entry of GET /api/streams.
type streamJSON struct {
	Name       string          `json:"name"`
	Live       bool            `json:"live"`
	Protocol   string          `json:"protocol,omitempty"`
	Publisher  string          `json:"publisher,omitempty"`
	Uptime     float64         `json:"uptime_seconds"`
	Bitrate    int             `json:"bitrate"`
	Codecs     []string        `json:"codecs"`
	Renditions []renditionJSON `json:"renditions"`
}

type renditionJSON struct {
	Name      string  `json:"name"`
	Type      string  `json:"type"`
	Codec     string  `json:"codec"`
	Width     int     `json:"width,omitempty"`
	Height    int     `json:"height,omitempty"`
	FPS       float64 `json:"fps,omitempty"`
	Bandwidth int     `json:"bandwidth"`
	Average   int     `json:"average_bandwidth"`
	LastMSN   int64   `json:"last_msn"`
}
