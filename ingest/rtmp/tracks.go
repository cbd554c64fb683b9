package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	rcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// videoClockRate is the tick rate of video timestamps, as in MPEG-TS and RTP.
const videoClockRate = 90000

// setupTracks translates the tracks gortmplib found into ingest tracks and
// registers a data callback for each. Unsupported tracks are skipped with a
// log line but still get a callback that drops their data: gortmplib's Reader
// calls the callback of every track it set up and would crash on a missing one.
func (c *conn) setupTracks(r *gortmplib.Reader) ([]*ingest.Track, error) {
	var tracks []*ingest.Track
	for _, rt := range r.Tracks() {
		t, err := ingestTrack(rt.Codec)
		if err != nil {
			c.log.Warn("rtmp track skipped", "codec", codecName(rt.Codec), "reason", err)
			if !dropData(r, rt) {
				return nil, fmt.Errorf("%w: track with unknown codec %T", errProtocol, rt.Codec)
			}
			continue
		}
		c.onData(r, rt, len(tracks), t)
		tracks = append(tracks, t)
	}
	return tracks, nil
}

// ingestTrack describes an RTMP track in mediacommon's MP4 codec types.
func ingestTrack(rc rcodecs.Codec) (*ingest.Track, error) {
	switch rc := rc.(type) {
	case *rcodecs.H264:
		if len(rc.SPS) == 0 || len(rc.PPS) == 0 {
			return nil, errors.New("H.264 without SPS/PPS")
		}
		return &ingest.Track{Codec: &codecs.H264{SPS: rc.SPS, PPS: rc.PPS}, ClockRate: videoClockRate}, nil
	case *rcodecs.H265:
		if len(rc.VPS) == 0 || len(rc.SPS) == 0 || len(rc.PPS) == 0 {
			return nil, errors.New("H.265 without VPS/SPS/PPS")
		}
		return &ingest.Track{Codec: &codecs.H265{VPS: rc.VPS, SPS: rc.SPS, PPS: rc.PPS}, ClockRate: videoClockRate}, nil
	case *rcodecs.MPEG4Audio:
		if rc.Config == nil || rc.Config.SampleRate <= 0 {
			return nil, errors.New("AAC without a usable AudioSpecificConfig")
		}
		return &ingest.Track{Codec: &codecs.MPEG4Audio{Config: *rc.Config}, ClockRate: rc.Config.SampleRate}, nil
	case *rcodecs.Opus:
		// Opus always runs at 48 kHz whatever the input rate in its header was.
		ch := 2
		if rc.IDHeader != nil && rc.IDHeader.ChannelCount > 0 {
			ch = int(rc.IDHeader.ChannelCount)
		}
		return &ingest.Track{Codec: &codecs.Opus{ChannelCount: ch}, ClockRate: 48000}, nil
	default:
		return nil, errors.New("codec not supported (need H.264, H.265, AAC or Opus)")
	}
}

// codecName is a short codec name for log lines ("VP9", "MPEG1Audio").
func codecName(rc rcodecs.Codec) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", rc), "*codecs.")
}

// onData registers the callback that turns the frames of rt into Units of
// ingest track idx.
func (c *conn) onData(r *gortmplib.Reader, rt *gortmplib.Track, idx int, t *ingest.Track) {
	switch tc := t.Codec.(type) {
	case *codecs.H264:
		v := &videoTrack{c: c, idx: idx, params: [][]byte{tc.SPS, tc.PPS},
			isKey: h264.IsRandomAccess, isPicture: isH264Picture}
		r.OnDataH264(rt, v.write)
	case *codecs.H265:
		v := &videoTrack{c: c, idx: idx, params: [][]byte{tc.VPS, tc.SPS, tc.PPS},
			isKey: h265.IsRandomAccess, isPicture: isH265Picture}
		r.OnDataH265(rt, v.write)
	case *codecs.MPEG4Audio:
		a := &audioTrack{c: c, idx: idx, rate: t.ClockRate}
		r.OnDataMPEG4Audio(rt, a.write)
	case *codecs.Opus:
		a := &audioTrack{c: c, idx: idx, rate: t.ClockRate}
		r.OnDataOpus(rt, a.write)
	}
}

// dropData registers a callback that discards the data of an unsupported
// track. It reports false for a codec it does not know.
func dropData(r *gortmplib.Reader, rt *gortmplib.Track) bool {
	switch rt.Codec.(type) {
	case *rcodecs.AV1:
		r.OnDataAV1(rt, func(time.Duration, [][]byte) {})
	case *rcodecs.VP9:
		r.OnDataVP9(rt, func(time.Duration, []byte) {})
	case *rcodecs.H264:
		r.OnDataH264(rt, func(time.Duration, time.Duration, [][]byte) {})
	case *rcodecs.H265:
		r.OnDataH265(rt, func(time.Duration, time.Duration, [][]byte) {})
	case *rcodecs.Opus:
		r.OnDataOpus(rt, func(time.Duration, []byte) {})
	case *rcodecs.FLAC:
		r.OnDataFLAC(rt, func(time.Duration, []byte) {})
	case *rcodecs.MPEG4Audio:
		r.OnDataMPEG4Audio(rt, func(time.Duration, []byte) {})
	case *rcodecs.MPEG1Audio:
		r.OnDataMPEG1Audio(rt, func(time.Duration, []byte) {})
	case *rcodecs.AC3:
		r.OnDataAC3(rt, func(time.Duration, []byte) {})
	case *rcodecs.G711:
		r.OnDataG711(rt, func(time.Duration, []byte) {})
	case *rcodecs.LPCM:
		r.OnDataLPCM(rt, func(time.Duration, []byte) {})
	default:
		return false
	}
	return true
}

// videoTrack converts the access units of one H.264/H.265 track.
type videoTrack struct {
	c         *conn
	idx       int
	ts        unwrapper
	params    [][]byte // parameter sets the track was started with
	isKey     func(au [][]byte) bool
	isPicture func(nalu []byte) bool
	keyed     bool // a key frame was passed on
	warned    bool // the in-band parameter change was logged
}

func (v *videoTrack) write(pts, dts time.Duration, au [][]byte) {
	if !slicesContain(au, v.isPicture) {
		// gortmplib hands the sequence header over as an access unit of
		// parameter sets only. The first one is the track's own; a later,
		// different one is an in-band resolution or profile change, which
		// the track description cannot follow yet (TODO: restart the
		// session with new tracks).
		if !v.warned && !sameParams(au, v.params) {
			v.warned = true
			v.c.log.Warn("rtmp in-band parameter set change ignored; downstream keeps the old SPS/PPS")
		}
		return
	}
	if !v.keyed {
		// Nothing downstream can decode frames before the first key frame.
		if !v.isKey(au) {
			return
		}
		v.keyed = true
	}
	d := v.ts.unwrap(dts)
	p := d + (pts - dts)
	v.c.write(&ingest.Unit{
		Track: v.idx,
		PTS:   ticks(p, videoClockRate),
		DTS:   ticks(d, videoClockRate),
		Key:   v.isKey(au),
		Data:  au,
	})
}

func isH264Picture(nalu []byte) bool {
	typ := h264.NALUType(nalu[0] & 0x1f)
	return typ >= h264.NALUTypeNonIDR && typ <= h264.NALUTypeIDR
}

func isH265Picture(nalu []byte) bool {
	// NAL unit types 0-31 are VCL (coded slice segments).
	return (nalu[0]>>1)&0x3f < 32
}

func slicesContain(au [][]byte, f func([]byte) bool) bool {
	for _, n := range au {
		if len(n) > 0 && f(n) {
			return true
		}
	}
	return false
}

// sameParams reports whether au holds exactly the parameter sets want, in any order.
func sameParams(au, want [][]byte) bool {
	if len(au) != len(want) {
		return false
	}
	for _, n := range au {
		found := false
		for _, w := range want {
			if bytes.Equal(n, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// audioTrack converts the frames of one AAC or Opus track.
type audioTrack struct {
	c    *conn
	idx  int
	rate int
	ts   unwrapper
}

func (a *audioTrack) write(pts time.Duration, frame []byte) {
	t := ticks(a.ts.unwrap(pts), a.rate)
	a.c.write(&ingest.Unit{Track: a.idx, PTS: t, DTS: t, Key: true, Data: [][]byte{frame}})
}

// ticks converts d to ticks of a rate-Hz clock exactly, in integers: d*rate
// alone would overflow int64 after about 28 hours at 90 kHz, so whole
// seconds and the remainder are scaled separately.
func ticks(d time.Duration, rate int) int64 {
	r := int64(rate)
	return int64(d/time.Second)*r + int64(d%time.Second)*r/int64(time.Second)
}

// unwrapper turns RTMP's 32-bit millisecond timestamps, which wrap after
// about 49.7 days, into an unbounded timeline. Each step is taken as the
// signed 32-bit difference to the previous timestamp, so a wrap reads as a
// small step forward and a slightly late frame as a small step back.
type unwrapper struct {
	started bool
	last    uint32 // previous raw timestamp, ms
	cur     int64  // previous unwrapped timestamp, ms
}

func (u *unwrapper) unwrap(d time.Duration) time.Duration {
	raw := uint32(d / time.Millisecond)
	if !u.started {
		u.started = true
		u.cur = int64(raw)
	} else {
		u.cur += int64(int32(raw - u.last))
	}
	u.last = raw
	return time.Duration(u.cur)*time.Millisecond + d%time.Millisecond
}
