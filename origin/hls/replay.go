package hls

import (
	"errors"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/origin/live"
)

// ReplayOptions says what kind of replay playlist to write.
type ReplayOptions struct {
	// Ended closes the playlist (EXT-X-ENDLIST): the range is complete.
	Ended bool
	// Event marks an open range that grows (EXT-X-PLAYLIST-TYPE:EVENT);
	// otherwise the playlist is VOD.
	Event bool
	// StartAtBeginning adds EXT-X-START at the first segment, so players start an
	// EVENT playlist at its first segment (start-over) instead of near live.
	StartAtBeginning bool
}

// Replay writes the media playlist of archived segments (all complete):
// no parts or blocking reloads, one EXT-X-MAP per publish session with an
// EXT-X-DISCONTINUITY where a session ends.
func Replay(s live.Snapshot, opt ReplayOptions, cfg Config) ([]byte, error) {
	if len(s.Segments) == 0 {
		return nil, errors.New("no segments in the range")
	}
	segs := s.Segments
	m := playlist.Media{
		Version:             7,
		IndependentSegments: s.Video,
		TargetDuration:      TargetDuration(s, cfg),
		MediaSequence:       int(segs[0].MSN),
		Map:                 &playlist.MediaMap{URI: live.InitName(segs[0].Session)},
		Endlist:             opt.Ended,
	}
	ds := int(segs[0].DiscSeq)
	m.DiscontinuitySequence = &ds
	pt := playlist.MediaPlaylistTypeVOD
	if opt.Event {
		pt = playlist.MediaPlaylistTypeEvent
	}
	m.PlaylistType = &pt
	if opt.StartAtBeginning {
		// 10 µs is the start for any player; exactly 0 is refused by some
		// parsers (gohlslib reads it as a missing TIME-OFFSET).
		m.Start = &playlist.MediaStart{TimeOffset: 10 * time.Microsecond}
	}
	var maps []mapInsert
	for i, seg := range segs {
		ms := &playlist.MediaSegment{
			Duration: live.Dur(seg.Duration, s.Timescale),
			URI:      live.SegmentName(seg.MSN),
		}
		pdt := seg.PDT
		ms.DateTime = &pdt
		if i > 0 && (seg.Session != segs[i-1].Session || seg.Discontinuity) {
			ms.Discontinuity = true
			maps = append(maps, mapInsert{seg: true, uri: ms.URI, init: live.InitName(seg.Session)})
		}
		m.Segments = append(m.Segments, ms)
	}
	out, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	return insertMaps(out, maps), nil
}
