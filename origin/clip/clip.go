// Package clip turns archived CMAF (fragmented MP4) segments into one
// progressive MP4 with the moov box before the media ("faststart"), without
// re-encoding: samples are copied, the cut starts on a keyframe.
package clip

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
)

// Segment is one archived fMP4 segment and where it sits in wall-clock time.
type Segment struct {
	Data []byte
	// Start is the segment's media time (ticks of the track timescale) and
	// PDT the wall-clock time of Start.
	Start int64
	PDT   time.Time
}

// Track is one rendition's init section and the segments to cut from.
type Track struct {
	Init     []byte
	Segments []Segment
}

// ErrEmpty means the range holds no sample to cut (e.g. no keyframe).
var ErrEmpty = errors.New("no media in the range")

// sample is one sample to copy, with the wall-clock time it starts.
type sample struct {
	mp4.Sample
	wall  time.Time
	data  []byte
	chunk int // index of the source segment: one chunk per segment
	sync  bool
}

type track struct {
	trak      *mp4.TrakBox
	timescale uint32
	samples   []sample
}

// Build cuts [from, to) out of video (may be nil for audio-only) and audio
// (may be nil) and returns the MP4. The video cut starts at the last keyframe
// at or before from; audio starts where video starts.
func Build(video, audio *Track, from, to time.Time) ([]byte, error) {
	var tracks []*track
	start := from
	if video != nil {
		v, err := load(video)
		if err != nil {
			return nil, fmt.Errorf("video: %w", err)
		}
		if !v.overlaps(from, to) {
			return nil, ErrEmpty
		}
		first := -1
		for i, s := range v.samples {
			if s.sync && (first < 0 || !s.wall.After(from)) {
				first = i
			}
			if s.wall.After(from) && first >= 0 {
				break
			}
		}
		if first < 0 {
			return nil, ErrEmpty
		}
		start = v.samples[first].wall
		v.samples = cut(v.samples[first:], start, to)
		if len(v.samples) == 0 {
			return nil, ErrEmpty
		}
		tracks = append(tracks, v)
	}
	if audio != nil {
		a, err := load(audio)
		if err != nil {
			return nil, fmt.Errorf("audio: %w", err)
		}
		if video == nil && !a.overlaps(from, to) {
			return nil, ErrEmpty
		}
		a.samples = cut(a.samples, start, to)
		if len(a.samples) > 0 {
			tracks = append(tracks, a)
		}
	}
	if len(tracks) == 0 {
		return nil, ErrEmpty
	}
	return write(tracks)
}

// overlaps reports whether any sample plays during [from, to): the cut may
// reach back to a keyframe before from, but not for a range with no media.
func (t *track) overlaps(from, to time.Time) bool {
	for _, s := range t.samples {
		end := s.wall.Add(time.Duration(float64(s.Dur) / float64(t.timescale) * float64(time.Second)))
		if end.After(from) && s.wall.Before(to) {
			return true
		}
	}
	return false
}

// cut keeps the samples that start in [from, to).
func cut(s []sample, from, to time.Time) []sample {
	out := s[:0:0]
	for _, x := range s {
		if !x.wall.Before(from) && x.wall.Before(to) {
			out = append(out, x)
		}
	}
	return out
}

// load parses the init section and the segments of a track.
func load(t *Track) (*track, error) {
	init, err := mp4.DecodeFile(bytes.NewReader(t.Init))
	if err != nil {
		return nil, fmt.Errorf("init section: %w", err)
	}
	if init.Moov == nil || len(init.Moov.Traks) != 1 || init.Moov.Mvex == nil {
		return nil, errors.New("init section: want one fragmented track")
	}
	trak := init.Moov.Traks[0]
	ts := trak.Mdia.Mdhd.Timescale
	if ts == 0 {
		return nil, errors.New("init section: zero timescale")
	}
	var trex *mp4.TrexBox
	for _, x := range init.Moov.Mvex.Trexs {
		if x.TrackID == trak.Tkhd.TrackID {
			trex = x
		}
	}
	out := &track{trak: trak, timescale: ts}
	for ci, seg := range t.Segments {
		f, err := mp4.DecodeFile(bytes.NewReader(seg.Data))
		if err != nil {
			return nil, fmt.Errorf("segment %d: %w", ci, err)
		}
		for _, ms := range f.Segments {
			for _, frag := range ms.Fragments {
				full, err := frag.GetFullSamples(trex)
				if err != nil {
					return nil, fmt.Errorf("segment %d: %w", ci, err)
				}
				for _, s := range full {
					ticks := int64(s.DecodeTime) - seg.Start
					wall := seg.PDT.Add(time.Duration(float64(ticks) / float64(ts) * float64(time.Second)))
					out.samples = append(out.samples, sample{Sample: s.Sample, wall: wall, data: s.Data, chunk: ci,
						sync: !mp4.DecodeSampleFlags(s.Flags).SampleIsNonSync})
				}
			}
		}
	}
	return out, nil
}
