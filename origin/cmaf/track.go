package cmaf

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// track is the cutting state of one track.
type track struct {
	idx     int
	codec   ingest.Codec
	rate    int64
	video   bool
	leads   bool
	partMax int64 // part target in ticks, plus a millisecond of jitter
	segMin  int64

	started bool  // the leader has seen its first keyframe
	origin  int64 // publisher DTS of media time 0, in this track's ticks
	lastDTS int64 // publisher DTS of the newest unit
	held    []*ingest.Unit

	pending *sample
	lastDur int64

	samples     []*fmp4.Sample
	partStart   int64
	independent bool
	msn         int64
	partIndex   int
	segStart    int64
	seq         uint32
}

// sample is a unit in media time whose duration is known once the next one arrives.
type sample struct {
	mt, pts  int64
	key      bool
	data     [][]byte
	fixedDur int64
}

// jumpLimit is how far timestamps may leap before we treat it as a publisher
// clock reset and carry on from where we were instead of leaving a hole.
const jumpLimit = 5 * time.Second

func newTrack(i int, t *ingest.Track, cfg Config) *track {
	r := int64(t.ClockRate)
	return &track{
		idx: i, codec: t.Codec, rate: r, video: t.IsVideo(),
		partMax: rescale(int64(cfg.PartTarget+time.Millisecond), int64(time.Second), r),
		segMin:  rescale(int64(cfg.SegmentTarget), int64(time.Second), r),
	}
}

func (t *track) start(dts int64) {
	t.started = true
	t.origin = dts
}

// frameDuration is the exact duration of an audio frame when the codec fixes it.
// Snapping to it keeps AAC timing exact although RTMP rounds timestamps to
// milliseconds, and it never drifts because each unit is compared with the
// publisher's own timestamp.
func (t *track) frameDuration(u *ingest.Unit) int64 {
	switch c := t.codec.(type) {
	case *codecs.MPEG4Audio:
		if c.Config.Type == mpeg4audio.ObjectTypeAACLC && c.Config.ExtensionType == 0 {
			return 1024
		}
	case *codecs.Opus:
		if len(u.Data) > 0 && t.rate == 48000 {
			return opus.PacketDuration2(u.Data[0])
		}
	}
	return 0
}

// push adds a unit and emits the part it completes. For followers, bounds are
// the leader's segment starts. It reports whether a new segment began.
func (t *track) push(u *ingest.Unit, emit Emit, bounds []boundary) (segCut bool) {
	t.lastDTS = u.DTS
	if t.video && t.pending == nil && !u.Key {
		return false // each track's first part must be independent
	}
	mt := u.DTS - t.origin
	s := &sample{mt: mt, pts: u.PTS - u.DTS, key: u.Key || !t.video, data: u.Data, fixedDur: t.frameDuration(u)}
	if p := t.pending; p != nil {
		if p.fixedDur > 0 {
			if d := mt - (p.mt + p.fixedDur); d > -p.fixedDur/2 && d < p.fixedDur/2 {
				mt = p.mt + p.fixedDur
				s.mt = mt
			}
		}
		dur := mt - p.mt
		if dur <= 0 || dur > rescale(int64(jumpLimit), int64(time.Second), t.rate) {
			if dur <= 0 && -dur < t.rate {
				return false // out of order by less than a second: drop it
			}
			// The publisher's clock jumped: continue our timeline seamlessly.
			est := t.estimate(p)
			t.origin += dur - est
			mt, s.mt, dur = p.mt+est, p.mt+est, est
		}
		t.lastDur = dur
		var msn int64
		segCut, msn = t.segmentCut(s, bounds)
		partCut := segCut || mt-t.partStart+dur > t.partMax
		t.appendSample(p, dur)
		if partCut {
			t.emitPart(emit, segCut, u.Received)
		}
		if segCut {
			t.msn, t.partIndex, t.segStart = msn, 0, mt
		}
	} else {
		t.segStart = mt
		if !t.leads {
			t.msn = currentMSN(bounds, t.rate, mt, t.msn)
		}
	}
	if len(t.samples) == 0 {
		t.partStart, t.independent = mt, s.key
	}
	t.pending = s
	return segCut
}

func (t *track) estimate(p *sample) int64 {
	if p.fixedDur > 0 {
		return p.fixedDur
	}
	if t.lastDur > 0 {
		return t.lastDur
	}
	return t.rate / 30
}

// segmentCut decides whether s starts a new segment, and its MSN.
func (t *track) segmentCut(s *sample, bounds []boundary) (bool, int64) {
	if !s.key {
		return false, 0
	}
	if t.leads {
		if s.mt-t.segStart+t.lastDur/2 >= t.segMin {
			return true, t.msn + 1
		}
		return false, 0
	}
	cut, msn := false, t.msn
	for _, b := range bounds {
		if b.msn > msn && s.mt >= b.scaled(t.rate) {
			cut, msn = true, b.msn
		}
	}
	return cut, msn
}

func (b boundary) scaled(rate int64) int64 { return rescale(b.at, b.rate, rate) }

// currentMSN is the MSN of the leader segment that contains mt.
func currentMSN(bounds []boundary, rate, mt, fallback int64) int64 {
	msn := fallback
	for _, b := range bounds {
		if mt >= b.scaled(rate) {
			msn = b.msn
		}
	}
	return msn
}

func (t *track) appendSample(p *sample, dur int64) {
	fs := &fmp4.Sample{Duration: uint32(dur), IsNonSyncSample: !p.key}
	switch t.codec.(type) {
	case *codecs.H264:
		_ = fs.FillH264(int32(p.pts), p.data)
	case *codecs.H265:
		_ = fs.FillH265(int32(p.pts), p.data)
	default:
		fs.Payload = p.data[0]
	}
	t.samples = append(t.samples, fs)
}

func (t *track) emitPart(emit Emit, last bool, trigger time.Time) {
	if len(t.samples) == 0 {
		return
	}
	t.seq++
	frag := fmp4.Part{SequenceNumber: t.seq, Tracks: []*fmp4.PartTrack{{
		ID: TrackID, BaseTime: uint64(t.partStart), Samples: t.samples,
	}}}
	var buf seekablebuffer.Buffer
	if err := frag.Marshal(&buf); err != nil {
		panic("cmaf: marshal fragment: " + err.Error()) // only fails on a broken writer
	}
	var dur int64
	for _, s := range t.samples {
		dur += int64(s.Duration)
	}
	emit(&Part{Track: t.idx, MSN: t.msn, Index: t.partIndex, Start: t.partStart, Duration: dur,
		Independent: t.independent, Last: last, Data: buf.Bytes(), Trigger: trigger})
	t.partIndex++
	t.samples = t.samples[:0:0]
	t.partStart += dur
}

func (t *track) flush(emit Emit) {
	if t.pending == nil {
		return
	}
	t.appendSample(t.pending, t.estimate(t.pending))
	t.pending = nil
	t.emitPart(emit, true, time.Time{})
}

// rescale converts v from rate `from` to rate `to` without overflow for realistic values.
func rescale(v, from, to int64) int64 {
	return (v/from)*to + (v%from)*to/from
}
