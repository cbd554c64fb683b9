package follow

import (
	"errors"
	"net/http"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// Snapshot is one media playlist as fetched from the upstream. It is shared
// by every viewer it is handed to: treat it, its Body, Header and Media as
// read-only.
type Snapshot struct {
	// Body is the playlist exactly as the upstream sent it.
	Body []byte
	// Header is the upstream's response header (Content-Type,
	// Cache-Control, …) without hop-by-hop fields and Content-Length.
	Header http.Header
	// Media is Body parsed.
	Media *playlist.Media

	// MSN and Part locate the newest part in the playlist: Part is its index
	// in segment MSN. When the playlist ends with a complete segment (no
	// trailing EXT-X-PART), MSN is that segment and Part its last part, or
	// -1 if the playlist has no parts at all (not LL-HLS).
	MSN  int64
	Part int
	// Complete reports that segment MSN is complete (it has an EXTINF).
	Complete bool
	// Ended reports EXT-X-ENDLIST: the stream is over.
	Ended bool
	// CanBlock reports EXT-X-SERVER-CONTROL CAN-BLOCK-RELOAD=YES.
	CanBlock bool

	// TargetDuration is EXT-X-TARGETDURATION; PartTarget is
	// EXT-X-PART-INF PART-TARGET (0 without parts).
	TargetDuration time.Duration
	PartTarget     time.Duration

	// Fetched is when the upstream response was read.
	Fetched time.Time
}

// Has reports whether the playlist contains part part of segment msn, or
// the whole segment msn if part < 0. A later segment, and a complete
// segment msn, count too: that is when an rfc8216bis server releases the
// request (a player asking for a part index past the end of a segment gets
// the playlist showing the segment complete and moves on to the next).
func (s *Snapshot) Has(msn int64, part int) bool {
	switch {
	case s.MSN > msn:
		return true
	case s.MSN < msn:
		return false
	case s.Complete:
		return true
	default:
		return part >= 0 && part <= s.Part
	}
}

// Next returns the _HLS_msn and _HLS_part of the part after the newest one:
// the next part of the segment in progress, or part 0 of the segment after
// a complete one.
func (s *Snapshot) Next() (msn int64, part int) {
	if s.Complete {
		return s.MSN + 1, 0
	}
	return s.MSN, s.Part + 1
}

// tooFar applies rfc8216bis 6.2.5.2: _HLS_msn more than two past the last
// segment of the playlist (the one in progress, if it has parts) is an error.
func (s *Snapshot) tooFar(msn int64) bool { return msn > s.MSN+2 }

// holdTimeout is three target durations (rfc8216bis 6.2.5.2).
func (s *Snapshot) holdTimeout() time.Duration { return 3 * s.TargetDuration }

// pollInterval is how often a playlist that cannot be followed by blocking
// requests is reloaded: half a part target with parts, half a target
// duration without (RFC 8216 6.3.4 has clients wait that long after an
// unchanged reload).
func (s *Snapshot) pollInterval() time.Duration {
	if s.PartTarget > 0 {
		return s.PartTarget / 2
	}
	return s.TargetDuration / 2
}

// samePosition reports whether two snapshots end at the same part.
func (s *Snapshot) samePosition(o *Snapshot) bool {
	return o != nil && s.MSN == o.MSN && s.Part == o.Part && s.Complete == o.Complete && s.Ended == o.Ended
}

var errNoMedia = errors.New("follow: not a media playlist")

// parseSnapshot parses a media playlist body.
func parseSnapshot(body []byte, h http.Header, now time.Time) (*Snapshot, error) {
	var m playlist.Media
	if err := m.Unmarshal(body); err != nil {
		return nil, errors.Join(errNoMedia, err)
	}
	s := &Snapshot{
		Body:           body,
		Header:         h,
		Media:          &m,
		Ended:          m.Endlist,
		CanBlock:       m.ServerControl != nil && m.ServerControl.CanBlockReload,
		TargetDuration: time.Duration(m.TargetDuration) * time.Second,
		Fetched:        now,
	}
	if m.PartInf != nil {
		s.PartTarget = m.PartInf.PartTarget
	}
	// The segment after the last complete one; a delta update (EXT-X-SKIP)
	// counts its skipped segments in EXT-X-MEDIA-SEQUENCE but does not list
	// them.
	next := int64(m.MediaSequence) + int64(len(m.Segments))
	if m.Skip != nil {
		next += int64(m.Skip.SkippedSegments)
	}
	if len(m.Parts) > 0 {
		s.MSN, s.Part = next, len(m.Parts)-1
	} else {
		last := m.Segments[len(m.Segments)-1] // Unmarshal requires one
		s.MSN, s.Part, s.Complete = next-1, len(last.Parts)-1, true
	}
	return s, nil
}

// hopHeaders are not part of the stored response.
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Te",
	"Trailer", "Upgrade", "Content-Length",
}

func storedHeader(h http.Header) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for _, k := range hopHeaders {
		out.Del(k)
	}
	return out
}
