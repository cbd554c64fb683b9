package origin

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/dash"
	"github.com/livecdn/livecdn/origin/hls"
	"github.com/livecdn/livecdn/origin/live"
	"github.com/livecdn/livecdn/origin/replay"
)

// ccOpenReplay is for replay playlists that still grow: like live ones, but
// they change only once per segment.
const ccOpenReplay = "public, max-age=1"

// replayView is a parsed replay request: the stream's archive index, the
// range, and whether that range can still change.
type replayView struct {
	idx      *archive.Index
	rng      replay.Range
	live     bool // a publisher is feeding the stream now
	complete bool // closed range, fully archived: the answer never changes
}

// openReplay checks the stream and the range; it answers the error itself.
func (o *Origin) openReplay(w http.ResponseWriter, r *http.Request, kind, stream string, max time.Duration) (*replayView, bool) {
	if o.cfg.Archive == nil {
		o.fail(w, kind, http.StatusNotFound, "no archive on this origin")
		return nil, false
	}
	idx := o.cfg.Archive.Index(stream)
	if idx == nil {
		o.fail(w, kind, http.StatusNotFound, "unknown stream: nothing archived under "+stream)
		return nil, false
	}
	rng, err := replay.ParseRange(r.URL.Query(), time.Now(), max)
	if err != nil {
		o.fail(w, kind, http.StatusBadRequest, err.Error())
		return nil, false
	}
	first, last, ok := idx.Span()
	if !ok || (!rng.From.IsZero() && !rng.From.Before(last)) || (!rng.To.IsZero() && !rng.To.After(first)) {
		o.fail(w, kind, http.StatusNotFound, fmt.Sprintf("range outside the archive, which holds %s to %s",
			first.Format(time.RFC3339), last.Format(time.RFC3339)))
		return nil, false
	}
	if rng.From.IsZero() {
		// From the start of the archive, but no more than max back from the end.
		end := rng.To
		if end.IsZero() || end.After(last) {
			end = last
		}
		if first.Before(end.Add(-max)) {
			rng.From = end.Add(-max)
		}
	}
	v := &replayView{idx: idx, rng: rng}
	if st := o.streams.Get(stream); st != nil && st.Publisher() != nil {
		v.live = true
	}
	v.complete = !rng.Open() && (!last.Before(rng.To) || !v.live)
	return v, true
}

func (v *replayView) cacheControl() string {
	if v.complete {
		return ccImmutable
	}
	return ccOpenReplay
}

func (o *Origin) serveReplay(w http.ResponseWriter, r *http.Request, path string) {
	rt, err := parsePath("/replay/", path)
	if err != nil {
		o.fail(w, "replay", http.StatusBadRequest, err.Error())
		return
	}
	if rt.rendition == "" {
		if rt.file == "manifest.mpd" {
			o.serveReplayMPD(w, r, rt.stream)
		} else {
			o.serveReplayMultivariant(w, r, rt.stream)
		}
		return
	}
	obj, _ := live.ParseObject(rt.file)
	switch obj.Kind {
	case live.KindPlaylist:
		o.serveReplayMedia(w, r, rt.stream, rt.rendition)
	case live.KindInit, live.KindSegment:
		o.serveArchived(w, r, rt.stream, rt.rendition, rt.file)
	default:
		o.fail(w, "replay", http.StatusNotFound, "parts are not archived; use segments")
	}
}

func (o *Origin) serveReplayMultivariant(w http.ResponseWriter, r *http.Request, stream string) {
	v, ok := o.openReplay(w, r, "replay-multivariant", stream, o.cfg.ReplayMax)
	if !ok {
		return
	}
	body, err := hls.Multivariant(replay.Snapshots(v.idx, v.rng))
	if err != nil {
		o.fail(w, "replay-multivariant", http.StatusNotFound, err.Error())
		return
	}
	// The rendition playlists take the same range, spelled canonically.
	if q := v.rng.Query(); q != "" {
		body = []byte(strings.ReplaceAll(string(body), "/index.m3u8", "/index.m3u8?"+q))
	}
	o.serveBytes(w, r, "replay-multivariant", "application/vnd.apple.mpegurl", v.cacheControl(), time.Time{}, body)
}

func (o *Origin) serveReplayMedia(w http.ResponseWriter, r *http.Request, stream, rendition string) {
	v, ok := o.openReplay(w, r, "replay-playlist", stream, o.cfg.ReplayMax)
	if !ok {
		return
	}
	rend := v.idx.Rendition(rendition)
	if rend == nil {
		o.fail(w, "replay-playlist", http.StatusNotFound, "unknown rendition")
		return
	}
	opt := hls.ReplayOptions{
		Ended:            v.complete || !v.live,
		Event:            !v.complete,
		StartAtBeginning: v.rng.Open(),
	}
	body, err := hls.Replay(replay.Snapshot(rend, v.rng), opt, o.hlsConfig())
	if err != nil {
		o.fail(w, "replay-playlist", http.StatusNotFound, err.Error())
		return
	}
	o.serveBytes(w, r, "replay-playlist", "application/vnd.apple.mpegurl", v.cacheControl(), time.Time{}, body)
}

func (o *Origin) serveReplayMPD(w http.ResponseWriter, r *http.Request, stream string) {
	v, ok := o.openReplay(w, r, "replay-mpd", stream, o.cfg.ReplayMax)
	if !ok {
		return
	}
	snaps := replay.Snapshots(v.idx, v.rng)
	var body []byte
	var err error
	if v.complete || !v.live {
		body, err = dash.Static(snaps, o.cfg.Packaging.SegmentTarget)
	} else {
		// Still growing: a dynamic MPD over the archive, whose
		// timeShiftBufferDepth lets players seek back to its start.
		body, err = o.archiveMPD(r, snaps)
	}
	if err != nil {
		o.fail(w, "replay-mpd", http.StatusNotFound, err.Error())
		return
	}
	o.serveBytes(w, r, "replay-mpd", "application/dash+xml", v.cacheControl(), time.Time{}, body)
}

// archiveMPD writes the dynamic MPD of archived segments: only complete
// segments, so no availabilityTimeOffset; availabilityStartTime is the
// media time 0 of the oldest listed session.
func (o *Origin) archiveMPD(r *http.Request, snaps []live.Snapshot) ([]byte, error) {
	var ast time.Time
	for _, s := range snaps {
		if len(s.Segments) > 0 && s.Timescale > 0 {
			zero := s.Segments[0].PDT.Add(-live.Dur(s.Segments[0].Start, s.Timescale))
			if ast.IsZero() || zero.Before(ast) {
				ast = zero
			}
		}
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	seg := o.cfg.Packaging.SegmentTarget
	return dash.MPD(ast, time.Now(), snaps, dash.Config{PartTarget: seg, SegmentTarget: seg,
		TimeURL: scheme + "://" + r.Host + "/api/time"})
}

// serveArchived serves an archived init section or segment: immutable, like
// its live twin (same name, same bytes).
func (o *Origin) serveArchived(w http.ResponseWriter, r *http.Request, stream, rendition, name string) {
	if o.cfg.Archive == nil {
		o.fail(w, "replay-media", http.StatusNotFound, "no archive on this origin")
		return
	}
	b, err := o.cfg.Archive.Open(r.Context(), stream, rendition, name)
	switch {
	case errors.Is(err, archive.ErrNotFound):
		o.fail(w, "replay-media", http.StatusNotFound, "not in the archive")
	case err != nil:
		o.log.Warn("archive read", "stream", stream, "rendition", rendition, "name", name, "err", err)
		o.fail(w, "replay-media", http.StatusServiceUnavailable, "archive storage unavailable")
	default:
		o.serveBytes(w, r, "replay-media", "video/mp4", ccImmutable, time.Time{}, b)
	}
}

// clipStream parses /api/clip/{stream}.mp4.
func clipStream(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, "/api/clip/")
	if !ok {
		return "", false
	}
	name, ok = strings.CutSuffix(name, ".mp4")
	return name, ok && ingest.ValidName(name)
}
