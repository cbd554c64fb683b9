package replay

import (
	"time"

	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/live"
)

// Overlaps reports whether a segment [start, end) overlaps the range; a zero
// From or To is unbounded on that side.
func (r Range) Overlaps(start, end time.Time) bool {
	return (r.From.IsZero() || end.After(r.From)) && (r.To.IsZero() || start.Before(r.To))
}

// Segments returns the records of a rendition that overlap the range.
func Segments(rend *archive.Rendition, r Range) []archive.Record {
	segs := rend.Segments
	// Records are in time order: skip to the first that ends after From.
	lo, hi := 0, len(segs)
	if !r.From.IsZero() {
		for lo < hi {
			mid := (lo + hi) / 2
			if segs[mid].End(rend.Timescale).After(r.From) {
				hi = mid
			} else {
				lo = mid + 1
			}
		}
	}
	var out []archive.Record
	for _, s := range segs[lo:] {
		if !r.To.IsZero() && !s.PDT.Before(r.To) {
			break
		}
		if r.Overlaps(s.PDT, s.End(rend.Timescale)) && rend.Inits[s.Session] {
			out = append(out, s)
		}
	}
	return out
}

// Snapshot converts a rendition's segments in the range to the live
// package's snapshot, which the HLS and DASH writers take.
func Snapshot(rend *archive.Rendition, r Range) live.Snapshot {
	s := live.Snapshot{Name: rend.Name, Video: rend.Video, Info: rend.Info, Timescale: rend.Timescale}
	for _, rec := range Segments(rend, r) {
		s.Segments = append(s.Segments, live.Segment{
			MSN: rec.MSN, Session: rec.Session, Discontinuity: rec.Disc, DiscSeq: rec.DiscSeq,
			Start: rec.Start, PDT: rec.PDT, Duration: rec.Duration, Complete: true, Size: rec.Size,
		})
	}
	return s
}

// Snapshots converts every rendition that has segments in the range.
func Snapshots(x *archive.Index, r Range) []live.Snapshot {
	var out []live.Snapshot
	for _, rend := range x.Renditions {
		if s := Snapshot(rend, r); len(s.Segments) > 0 {
			out = append(out, s)
		}
	}
	return out
}
