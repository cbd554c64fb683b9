package mpegts

import (
	"fmt"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// aacFrameSamples is the length of an AAC frame carried in ADTS.
const aacFrameSamples = 1024

type kind int

const (
	kindH264 kind = iota
	kindH265
	kindAAC
	kindOpus
)

func (k kind) video() bool { return k == kindH264 || k == kindH265 }

func (k kind) String() string {
	return [...]string{"H.264", "H.265", "AAC", "Opus"}[k]
}

// track is the demux state of one supported elementary stream.
type track struct {
	index int
	kind  kind
	track *ingest.Track
	scale rescaler

	// ready is set once the codec parameters are complete and, for video, a
	// keyframe arrived; video before that is dropped.
	ready bool
	keyAt int64 // unwrapped 90 kHz PTS of the first keyframe

	vps, sps, pps []byte // latest valid in-band parameter sets, until ready
}

func (t *track) missing() string {
	var m []string
	if t.kind == kindH265 && t.vps == nil {
		m = append(m, "VPS")
	}
	if t.sps == nil {
		m = append(m, "SPS")
	}
	if t.pps == nil {
		m = append(m, "PPS")
	}
	if len(m) == 0 {
		return "a keyframe"
	}
	return strings.Join(m, ", ") + " (in-band, before a keyframe)"
}

func (t *track) paramsComplete() bool {
	return t.sps != nil && t.pps != nil && (t.kind != kindH265 || t.vps != nil)
}

// video handles one H.264 or H.265 access unit from mediacommon (Annex-B
// split into NAL units, a leading AUD already removed).
func (d *demuxer) video(t *track, rawPTS, rawDTS int64, au [][]byte) error {
	dts := d.clock.unwrap(rawDTS)
	pts := dts + delta33(rawPTS, rawDTS)
	nalus := make([][]byte, 0, len(au))
	key := false
	for _, n := range au {
		aud, isKey := t.inspect(n)
		if aud {
			continue
		}
		key = key || isKey
		nalus = append(nalus, n)
	}
	if len(nalus) == 0 {
		return nil
	}
	if !t.ready {
		if !key || !t.paramsComplete() {
			d.progress(dts)
			return d.checkWait(dts) // video before the first usable keyframe cannot be decoded
		}
		t.ready, t.keyAt = true, pts
		t.track.Codec = t.codec()
	}
	return d.emit(t, &ingest.Unit{PTS: pts, DTS: dts, Key: key, Data: nalus}, pts)
}

// inspect classifies a NAL unit and, until the track is ready, keeps the
// parameter sets that parse.
func (t *track) inspect(n []byte) (aud, key bool) {
	if t.kind == kindH264 {
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeAccessUnitDelimiter:
			return true, false
		case h264.NALUTypeIDR:
			return false, true
		case h264.NALUTypeSPS:
			if !t.ready {
				var sps h264.SPS
				if sps.Unmarshal(n) == nil {
					t.sps = n
				}
			}
		case h264.NALUTypePPS:
			if !t.ready && len(n) > 1 {
				t.pps = n
			}
		}
		return false, false
	}
	switch typ := h265.NALUType((n[0] >> 1) & 0x3f); typ {
	case h265.NALUType_AUD_NUT:
		return true, false
	case h265.NALUType_BLA_W_LP, h265.NALUType_BLA_W_RADL, h265.NALUType_BLA_N_LP,
		h265.NALUType_IDR_W_RADL, h265.NALUType_IDR_N_LP, h265.NALUType_CRA_NUT:
		// Every IRAP picture counts: x265 uses open GOPs (CRA) by default,
		// and a stream cut only at IDRs would never be segmented.
		return false, true
	case h265.NALUType_VPS_NUT:
		if !t.ready && len(n) > 2 {
			t.vps = n
		}
	case h265.NALUType_SPS_NUT:
		if !t.ready {
			var sps h265.SPS
			if sps.Unmarshal(n) == nil {
				t.sps = n
			}
		}
	case h265.NALUType_PPS_NUT:
		if !t.ready && len(n) > 2 {
			t.pps = n
		}
	}
	return false, false
}

func (t *track) codec() ingest.Codec {
	if t.kind == kindH264 {
		return &codecs.H264{SPS: t.sps, PPS: t.pps}
	}
	return &codecs.H265{VPS: t.vps, SPS: t.sps, PPS: t.pps}
}

// aac handles one PES of ADTS frames: one unit per frame, each 1024 samples
// after the previous one.
func (d *demuxer) aac(t *track, rawPTS int64, aus [][]byte) error {
	pts90 := d.clock.unwrap(rawPTS)
	base := t.scale.conv(pts90)
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		off := int64(i) * aacFrameSamples
		pts := base + off
		at := pts90 + off*90000/int64(t.track.ClockRate)
		if err := d.emit(t, &ingest.Unit{PTS: pts, DTS: pts, Key: true, Data: [][]byte{au}}, at); err != nil {
			return err
		}
	}
	return nil
}

// opus handles one PES of Opus packets: one unit per packet, each after the
// previous one's duration (read from its TOC byte).
func (d *demuxer) opus(t *track, rawPTS int64, pkts [][]byte) error {
	pts90 := d.clock.unwrap(rawPTS)
	base := t.scale.conv(pts90)
	var off int64 // 48 kHz ticks since the PES timestamp
	for _, p := range pkts {
		if len(p) == 0 {
			continue
		}
		pts := base + off
		if err := d.emit(t, &ingest.Unit{PTS: pts, DTS: pts, Key: true, Data: [][]byte{p}}, pts90+off*90000/48000); err != nil {
			return err
		}
		off += opus.PacketDuration2(p)
	}
	return nil
}

func aacCodec(c *tscodecs.MPEG4Audio) ingest.Codec {
	return &codecs.MPEG4Audio{Config: c.Config}
}

func opusCodec(c *tscodecs.Opus) ingest.Codec {
	n := c.ChannelCount //nolint:staticcheck // the fallback when the descriptor is absent
	if c.Desc != nil {
		n = c.Desc.ChannelCount()
	}
	if n <= 0 {
		n = 2
	}
	return &codecs.Opus{ChannelCount: n}
}

func codecName(c tscodecs.Codec) string {
	switch c.(type) {
	case *tscodecs.MPEG1Video:
		return "MPEG-1/2 video"
	case *tscodecs.MPEG4Video:
		return "MPEG-4 video"
	case *tscodecs.MPEG1Audio:
		return "MPEG-1/2 audio"
	case *tscodecs.MPEG4AudioLATM:
		return "AAC LATM"
	case *tscodecs.AC3:
		return "AC-3"
	case *tscodecs.EAC3:
		return "E-AC-3"
	case *tscodecs.KLV:
		return "KLV"
	case *tscodecs.DVBSubtitle:
		return "DVB subtitles"
	default:
		return fmt.Sprintf("unsupported stream %T", c)
	}
}
