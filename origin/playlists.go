package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/livecdn/livecdn/origin/dash"
	"github.com/livecdn/livecdn/origin/hls"
	"github.com/livecdn/livecdn/origin/live"
	"github.com/livecdn/livecdn/origin/replay"
)

func (o *Origin) hlsConfig() hls.Config {
	return hls.Config{PartTarget: o.cfg.Packaging.PartTarget, SegmentTarget: o.cfg.Packaging.SegmentTarget}
}

func snapshots(st *live.Stream) []live.Snapshot {
	rs := st.Renditions()
	out := make([]live.Snapshot, len(rs))
	for i, r := range rs {
		out[i] = r.Snapshot()
	}
	return out
}

func (o *Origin) serveMultivariant(w http.ResponseWriter, r *http.Request, st *live.Stream) {
	body, err := hls.Multivariant(snapshots(st))
	if err != nil {
		o.fail(w, "multivariant", http.StatusNotFound, err.Error())
		return
	}
	o.serveBytes(w, r, "multivariant", "application/vnd.apple.mpegurl", ccPlaylist, time.Time{}, o.announceRewind(st.Name, body))
}

// announceRewind tells players how far back the archive reaches. An HLS
// live playlist cannot list an hour of segments (it reloads every part),
// so the multivariant playlist names the start-over playlist and the
// archive's start as session data (rfc8216bis 4.4.6.4), which players
// expose (hls.js: sessionData) to offer "watch from the start".
func (o *Origin) announceRewind(stream string, body []byte) []byte {
	if o.cfg.Archive == nil {
		return body
	}
	idx := o.cfg.Archive.Index(stream)
	if idx == nil {
		return body
	}
	from, _, ok := idx.Span()
	if !ok {
		return body
	}
	return fmt.Appendf(body, "#EXT-X-SESSION-DATA:DATA-ID=\"com.livecdn.start-over\",VALUE=\"/replay/%s/index.m3u8\"\n"+
		"#EXT-X-SESSION-DATA:DATA-ID=\"com.livecdn.rewind-from\",VALUE=\"%s\"\n", stream, from.UTC().Format(time.RFC3339))
}

func (o *Origin) serveMedia(w http.ResponseWriter, r *http.Request, st *live.Stream, rend *live.Rendition) {
	q, err := parseBlocking(r.URL.Query())
	if err != nil {
		o.fail(w, "playlist", http.StatusBadRequest, err.Error())
		return
	}
	if last, part, ok := rend.Last(); ok && q.msn >= 0 {
		if part < 0 {
			last--
		}
		if q.msn > last+2 {
			o.fail(w, "playlist", http.StatusBadRequest, "_HLS_msn is more than two segments ahead of the playlist")
			return
		}
	}
	// Hold blocking requests until the asked-for part exists, and plain
	// requests until the rendition has any media at all.
	msn, part := q.msn, q.part
	if msn < 0 {
		msn, part = 0, 0
	}
	ctx, cancel := context.WithTimeout(r.Context(), o.cfg.BlockTimeout)
	defer cancel()
	o.metrics.blocking.Inc()
	err = rend.Wait(ctx, func(segs []*live.Segment) bool {
		// Many clients (gohlslib, older players) refuse a playlist without
		// one complete segment, so even blocking requests wait for the first.
		if len(segs) == 0 || (len(segs) == 1 && !segs[0].Complete) {
			return false
		}
		return q.msn < 0 || live.Has(segs, msn, part)
	})
	o.metrics.blocking.Dec()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			o.fail(w, "playlist", http.StatusServiceUnavailable, "playlist did not advance in time")
		}
		return // the client went away
	}
	var reports []hls.Report
	for _, other := range st.Renditions() {
		if other == rend {
			continue
		}
		if m, p, ok := other.Last(); ok {
			reports = append(reports, hls.Report{Name: other.Name, LastMSN: m, LastPart: p})
		}
	}
	body, err := hls.Media(rend.Snapshot(), hls.Request{Skip: q.skip}, reports, o.hlsConfig())
	if err != nil {
		o.fail(w, "playlist", http.StatusInternalServerError, err.Error())
		return
	}
	o.serveBytes(w, r, "playlist", "application/vnd.apple.mpegurl", ccPlaylist, time.Time{}, body)
}

func (o *Origin) serveMPD(w http.ResponseWriter, r *http.Request, st *live.Stream) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	cfg := dash.Config{
		PartTarget: o.cfg.Packaging.PartTarget, SegmentTarget: o.cfg.Packaging.SegmentTarget,
		TimeURL: scheme + "://" + r.Host + "/api/time",
	}
	body, err := dash.MPD(st.Created(), time.Now(), o.withArchive(st.Name, snapshots(st)), cfg)
	if err != nil {
		o.fail(w, "mpd", http.StatusNotFound, err.Error())
		return
	}
	o.serveBytes(w, r, "mpd", "application/dash+xml", ccPlaylist, time.Time{}, body)
}

func (o *Origin) serveStreams(w http.ResponseWriter) {
	now := time.Now()
	out := []streamJSON{}
	for _, st := range o.streams.List() {
		sj := streamJSON{Name: st.Name, Codecs: []string{}, Renditions: []renditionJSON{}}
		if p := st.Publisher(); p != nil {
			sj.Live, sj.Protocol, sj.Publisher = true, p.Protocol, p.Remote
			sj.Uptime = now.Sub(p.Since).Seconds()
		}
		for _, snap := range snapshots(st) {
			peak, avg := hls.Bandwidth(snap)
			rj := renditionJSON{Name: snap.Name, Type: "audio", Codec: snap.Info.Codec,
				Width: snap.Info.Width, Height: snap.Info.Height, FPS: snap.Info.FPS, Bandwidth: peak, Average: avg}
			if snap.Video {
				rj.Type = "video"
			}
			if n := len(snap.Segments); n > 0 {
				rj.LastMSN = snap.Segments[n-1].MSN
			}
			sj.Bitrate += avg
			sj.Codecs = append(sj.Codecs, snap.Info.Codec)
			sj.Renditions = append(sj.Renditions, rj)
		}
		out = append(out, sj)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", ccNoStore)
	_ = json.NewEncoder(w).Encode(out)
}

// withArchive puts up to Rewind of archived segments in front of each live
// window, so the live MPD's timeShiftBufferDepth reaches back past the window
// and players can seek there (the segments are served from the archive).
func (o *Origin) withArchive(stream string, snaps []live.Snapshot) []live.Snapshot {
	if o.cfg.Archive == nil || o.cfg.Rewind <= 0 {
		return snaps
	}
	idx := o.cfg.Archive.Index(stream)
	if idx == nil {
		return snaps
	}
	since := time.Now().Add(-o.cfg.Rewind)
	for i, s := range snaps {
		rend := idx.Rendition(s.Name)
		if rend == nil || len(s.Segments) == 0 || rend.Timescale != s.Timescale {
			continue
		}
		first := s.Segments[0].MSN
		older := replay.Snapshot(rend, replay.Range{From: since})
		n := 0
		for n < len(older.Segments) && older.Segments[n].MSN < first {
			n++
		}
		if n > 0 {
			snaps[i].Segments = append(older.Segments[:n:n], s.Segments...)
		}
	}
	return snaps
}
