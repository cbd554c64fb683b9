package origin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/clip"
	"github.com/livecdn/livecdn/origin/live"
	"github.com/livecdn/livecdn/origin/replay"
)

// serveClip answers GET /api/clip/{stream}.mp4?from=&to=&rendition=: a
// progressive MP4 of the range, cut on keyframes, with the audio rendition
// (if any) beside the chosen video one.
func (o *Origin) serveClip(w http.ResponseWriter, r *http.Request, path string) {
	stream, ok := clipStream(path)
	if !ok {
		o.fail(w, "clip", http.StatusBadRequest, "want /api/clip/{stream}.mp4")
		return
	}
	q := r.URL.Query()
	if q.Get("from") == "" || q.Get("to") == "" {
		o.fail(w, "clip", http.StatusBadRequest, "a clip needs both from and to")
		return
	}
	v, ok := o.openReplay(w, r, "clip", stream, o.cfg.ClipMax)
	if !ok {
		return
	}
	var video, audio *archive.Rendition
	if name := q.Get("rendition"); name != "" {
		if !ingest.ValidName(name) || v.idx.Rendition(name) == nil {
			o.fail(w, "clip", http.StatusNotFound, "unknown rendition")
			return
		}
		if rend := v.idx.Rendition(name); rend.Video {
			video = rend
		} else {
			audio = rend
		}
	}
	for _, rend := range v.idx.Renditions {
		// Without a choice, the largest video rendition (ladder names do
		// not sort by quality) and the audio.
		if q.Get("rendition") == "" && rend.Video &&
			(video == nil || rend.Info.Width*rend.Info.Height > video.Info.Width*video.Info.Height) {
			video = rend
		}
		if audio == nil && !rend.Video && (q.Get("rendition") == "" || video != nil) {
			audio = rend
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	vt, err := o.clipTrack(ctx, stream, video, v.rng)
	if err == nil {
		var at *clip.Track
		at, err = o.clipTrack(ctx, stream, audio, v.rng)
		if err == nil {
			var body []byte
			body, err = clip.Build(vt, at, v.rng.From, v.rng.To)
			if err == nil {
				cc := ccNoStore
				if v.complete {
					cc = ccImmutable
				}
				w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.mp4"`, stream, v.rng.From.Format("20060102T150405Z")))
				w.Header().Set("Content-Type", "video/mp4")
				w.Header().Set("Cache-Control", cc)
				o.metrics.requests.WithLabelValues("clip", "200").Inc()
				http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
				return
			}
		}
	}
	switch {
	case errors.Is(err, clip.ErrEmpty), errors.Is(err, archive.ErrNotFound):
		o.fail(w, "clip", http.StatusNotFound, err.Error())
	case errors.Is(err, errMixedSessions):
		o.fail(w, "clip", http.StatusBadRequest, err.Error())
	default:
		o.log.Warn("clip", "stream", stream, "err", err)
		o.fail(w, "clip", http.StatusServiceUnavailable, "clip failed: "+err.Error())
	}
}

var errMixedSessions = errors.New("the range spans a publisher reconnect; cut each side separately")

// clipTrack reads a rendition's init section and segments in the range.
func (o *Origin) clipTrack(ctx context.Context, stream string, rend *archive.Rendition, rng replay.Range) (*clip.Track, error) {
	if rend == nil {
		return nil, nil
	}
	recs := replay.Segments(rend, rng)
	if len(recs) == 0 {
		return nil, clip.ErrEmpty
	}
	for _, s := range recs {
		if s.Session != recs[0].Session {
			return nil, errMixedSessions
		}
	}
	init, err := o.cfg.Archive.Open(ctx, stream, rend.Name, live.InitName(recs[0].Session))
	if err != nil {
		return nil, err
	}
	t := &clip.Track{Init: init}
	for _, s := range recs {
		b, err := o.cfg.Archive.Open(ctx, stream, rend.Name, live.SegmentName(s.MSN))
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", rend.Name, live.SegmentName(s.MSN), err)
		}
		t.Segments = append(t.Segments, clip.Segment{Data: b, Start: s.Start, PDT: s.PDT})
	}
	return t, nil
}
