package live

import (
	"time"
)

// Part is one CMAF part of a segment.
type Part struct {
	Index       int
	Duration    int64 // ticks of the rendition's timescale
	Independent bool
	Data        []byte
}

// Segment is a CMAF segment: the concatenation of its parts.
type Segment struct {
	// MSN is the media sequence number, unique for the stream forever.
	MSN int64
	// Session numbers the publish session; it names the init section and the DASH period.
	Session int
	// Discontinuity marks the first segment of a session that follows another.
	Discontinuity bool
	// DiscSeq counts the discontinuities up to and including this segment.
	DiscSeq int64
	// Start is the media time of the first sample in ticks, from the session start.
	Start int64
	// PDT is the wall-clock time of Start.
	PDT time.Time
	// Parts are the parts written so far; a segment grows until Complete.
	Parts []*Part
	// Duration is the sum of the part durations, in ticks.
	Duration int64
	// Complete is set once the segment's last part is written.
	Complete bool
	// Size is the byte length of the parts so far.
	Size int

	data []byte // the joined parts, set on completion
}

// Data returns the bytes of a complete segment.
func (s *Segment) Data() []byte { return s.data }

func (s *Segment) complete() {
	s.Complete = true
	buf := make([]byte, 0, s.Size)
	for _, p := range s.Parts {
		buf = append(buf, p.Data...)
	}
	s.data = buf
}

// Seconds converts ticks of timescale to seconds.
func Seconds(ticks, timescale int64) float64 { return float64(ticks) / float64(timescale) }

// Dur converts ticks of timescale to a time.Duration.
func Dur(ticks, timescale int64) time.Duration {
	return time.Duration(ticks/timescale)*time.Second + time.Duration(ticks%timescale)*time.Second/time.Duration(timescale)
}
