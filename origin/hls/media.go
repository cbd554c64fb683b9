package hls

import (
	"math"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/origin/live"
)

// Config holds what media playlists announce.
type Config struct {
	// PartTarget is EXT-X-PART-INF's PART-TARGET.
	PartTarget time.Duration
	// SegmentTarget is the configured segment duration; TARGETDURATION is at
	// least this, rounded up, and grows if the publisher's GOP is longer.
	SegmentTarget time.Duration
}

// Report is what EXT-X-RENDITION-REPORT says about another rendition.
type Report struct {
	Name     string
	LastMSN  int64
	LastPart int
}

// Request carries the delta-update choice of a playlist request.
type Request struct {
	// Skip asks for a delta update (_HLS_skip=YES).
	Skip bool
}

// TargetDuration returns EXT-X-TARGETDURATION for a snapshot: every EXTINF,
// rounded to the nearest second, must stay at or below it.
func TargetDuration(s live.Snapshot, cfg Config) int {
	td := int(math.Ceil(cfg.SegmentTarget.Seconds()))
	for _, seg := range s.Segments {
		if seg.Complete && s.Timescale > 0 {
			td = max(td, int(math.Round(live.Seconds(seg.Duration, s.Timescale))))
		}
	}
	return max(td, 1)
}

// Media writes the LL-HLS media playlist of a rendition.
func Media(s live.Snapshot, req Request, reports []Report, cfg Config) ([]byte, error) {
	td := TargetDuration(s, cfg)
	holdBack := 3 * cfg.PartTarget
	skipUntil := time.Duration(6*td) * time.Second
	m := playlist.Media{
		Version:             9,
		IndependentSegments: s.Video,
		TargetDuration:      td,
		ServerControl: &playlist.MediaServerControl{
			CanBlockReload: true, PartHoldBack: &holdBack, CanSkipUntil: &skipUntil,
		},
		PartInf: &playlist.MediaPartInf{PartTarget: cfg.PartTarget},
	}
	segs := s.Segments
	var inProgress *live.Segment
	if n := len(segs); n > 0 && !segs[n-1].Complete {
		inProgress, segs = &segs[n-1], segs[:n-1]
	}
	// Parts are listed for the segments of the last three target durations.
	partsFrom := len(segs)
	var tail int64
	for partsFrom > 0 && tail < int64(3*td)*s.Timescale {
		partsFrom--
		tail += segs[partsFrom].Duration
	}
	skipped := 0
	if req.Skip {
		var total int64
		for _, seg := range segs {
			total += seg.Duration
		}
		limit := int64(skipUntil.Seconds()) * s.Timescale
		for skipped < len(segs) && total-segs[skipped].Duration >= limit {
			total -= segs[skipped].Duration
			skipped++
		}
	}
	first := segs
	if inProgress != nil {
		first = append(segs[:len(segs):len(segs)], *inProgress)
	}
	if len(first) > 0 {
		m.MediaSequence = int(first[0].MSN)
		ds := int(first[0].DiscSeq)
		m.DiscontinuitySequence = &ds
		m.Map = &playlist.MediaMap{URI: live.InitName(first[skippedIndex(first, skipped)].Session)}
	}
	if skipped > 0 {
		m.Skip = &playlist.MediaSkip{SkippedSegments: skipped}
	}
	var maps []mapInsert
	for i, seg := range segs {
		if i < skipped {
			continue
		}
		ms := &playlist.MediaSegment{
			Duration:      live.Dur(seg.Duration, s.Timescale),
			URI:           live.SegmentName(seg.MSN),
			Discontinuity: seg.Discontinuity && i > 0,
		}
		pdt := seg.PDT
		ms.DateTime = &pdt
		if i >= partsFrom {
			ms.Parts = mediaParts(seg, s.Timescale)
		}
		if ms.Discontinuity && i > skipped {
			maps = append(maps, mapInsert{seg: true, uri: ms.URI, init: live.InitName(seg.Session)})
		}
		m.Segments = append(m.Segments, ms)
	}
	if inProgress != nil {
		m.Parts = mediaParts(*inProgress, s.Timescale)
		if inProgress.Discontinuity && len(segs) > 0 {
			maps = append(maps, mapInsert{init: live.InitName(inProgress.Session)})
		}
	}
	if s.Active && len(s.Segments) > 0 {
		last := s.Segments[len(s.Segments)-1]
		next := live.PartName(last.MSN+1, 0)
		if !last.Complete {
			next = live.PartName(last.MSN, len(last.Parts))
		}
		m.PreloadHint = &playlist.MediaPreloadHint{URI: next}
	}
	for _, r := range reports {
		lp := r.LastPart
		m.RenditionReport = append(m.RenditionReport, &playlist.MediaRenditionReport{
			URI: "../" + r.Name + "/index.m3u8", LastMSN: int(r.LastMSN), LastPart: &lp,
		})
	}
	out, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	return insertMaps(out, maps), nil
}

func skippedIndex(segs []live.Segment, skipped int) int {
	return min(skipped, len(segs)-1)
}

func mediaParts(seg live.Segment, timescale int64) []*playlist.MediaPart {
	out := make([]*playlist.MediaPart, len(seg.Parts))
	for i, p := range seg.Parts {
		out[i] = &playlist.MediaPart{
			Duration: live.Dur(p.Duration, timescale), URI: live.PartName(seg.MSN, i), Independent: p.Independent,
		}
	}
	return out
}

// mapInsert is an EXT-X-MAP (and, for the segment in progress, the
// EXT-X-DISCONTINUITY) that gohlslib cannot place: it writes one EXT-X-MAP
// per playlist and no discontinuity before trailing parts, but a publisher
// that reconnects with new codec parameters needs both mid-playlist.
type mapInsert struct {
	seg  bool   // at the segment named uri; otherwise before the trailing parts
	uri  string // segment URI
	init string
}

func insertMaps(out []byte, maps []mapInsert) []byte {
	if len(maps) == 0 {
		return out
	}
	text := string(out)
	for _, mi := range maps {
		tag := "#EXT-X-MAP:URI=\"" + mi.init + "\"\n"
		if mi.seg {
			// The segment block starts with its EXT-X-DISCONTINUITY line:
			// find the last one before the segment's URI line.
			end := strings.Index(text, "\n"+mi.uri+"\n")
			if end < 0 {
				continue
			}
			at := strings.LastIndex(text[:end], "#EXT-X-DISCONTINUITY\n")
			if at < 0 {
				continue
			}
			at += len("#EXT-X-DISCONTINUITY\n")
			text = text[:at] + tag + text[at:]
			continue
		}
		// Trailing parts begin after the last segment URI line (or after the header).
		from := strings.LastIndex(text, ".m4s\n#EXT-X-PART:")
		if from < 0 {
			from = strings.Index(text, "#EXT-X-PART:")
		} else {
			from += len(".m4s\n")
		}
		if from < 0 {
			continue
		}
		text = text[:from] + "#EXT-X-DISCONTINUITY\n" + tag + text[from:]
	}
	return []byte(text)
}
