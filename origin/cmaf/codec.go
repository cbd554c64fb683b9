package cmaf

import (
	"fmt"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// Info is what playlists need to know about a track besides its bitrate.
type Info struct {
	// Codec is the RFC 6381 codecs string (avc1.64001f, hvc1.1.6.L93.B0, mp4a.40.2, opus).
	Codec string
	// Width, Height and FPS are set for video when the SPS says so.
	Width, Height int
	FPS           float64
	// SampleRate and Channels are set for audio.
	SampleRate, Channels int
}

// Describe returns the Info of a track, read from its codec parameters.
func Describe(t *ingest.Track) (Info, error) {
	switch c := t.Codec.(type) {
	case *codecs.H264:
		var sps h264.SPS
		if err := sps.Unmarshal(c.SPS); err != nil {
			return Info{}, fmt.Errorf("h264 sps: %w", err)
		}
		return Info{Codec: fmt.Sprintf("avc1.%02x%02x%02x", c.SPS[1], c.SPS[2], c.SPS[3]),
			Width: sps.Width(), Height: sps.Height(), FPS: sps.FPS()}, nil
	case *codecs.H265:
		var sps h265.SPS
		if err := sps.Unmarshal(c.SPS); err != nil {
			return Info{}, fmt.Errorf("h265 sps: %w", err)
		}
		return Info{Codec: hevcCodec(&sps.ProfileTierLevel),
			Width: sps.Width(), Height: sps.Height(), FPS: sps.FPS()}, nil
	case *codecs.MPEG4Audio:
		aot := c.Config.Type
		if c.Config.ExtensionType != 0 { // HE-AAC signals SBR/PS as the object type
			aot = c.Config.ExtensionType
		}
		return Info{Codec: fmt.Sprintf("mp4a.40.%d", int(aot)),
			SampleRate: c.Config.SampleRate, Channels: c.Config.ChannelCount}, nil
	case *codecs.Opus:
		return Info{Codec: "opus", SampleRate: 48000, Channels: c.ChannelCount}, nil
	default:
		return Info{}, fmt.Errorf("unsupported codec %T", t.Codec)
	}
}

// hevcCodec builds the ISO/IEC 14496-15 Annex E codecs string.
func hevcCodec(p *h265.SPS_ProfileTierLevel) string {
	var b strings.Builder
	b.WriteString("hvc1.")
	if p.GeneralProfileSpace > 0 {
		b.WriteByte("ABC"[p.GeneralProfileSpace-1])
	}
	fmt.Fprintf(&b, "%d.", p.GeneralProfileIdc)
	// The compatibility flags are written bit-reversed, as hex.
	var compat uint32
	for i, f := range p.GeneralProfileCompatibilityFlag {
		if f {
			compat |= 1 << i
		}
	}
	fmt.Fprintf(&b, "%X.", compat)
	if p.GeneralTierFlag == 1 {
		b.WriteByte('H')
	} else {
		b.WriteByte('L')
	}
	fmt.Fprintf(&b, "%d", p.GeneralLevelIdc)
	var c byte
	if p.GeneralProgressiveSourceFlag {
		c |= 0x80
	}
	if p.GeneralInterlacedSourceFlag {
		c |= 0x40
	}
	if p.GeneralNonPackedConstraintFlag {
		c |= 0x20
	}
	if p.GeneralFrameOnlyConstraintFlag {
		c |= 0x10
	}
	fmt.Fprintf(&b, ".%X", c)
	return b.String()
}
