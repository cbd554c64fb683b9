package rtsp

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"

	"github.com/livecdn/livecdn/ingest"
)

// converter turns the RTP packets of one announced media into ingest units.
// One publisher goroutine owns all of its converters, so they need no locks.
type converter struct {
	media  *description.Media
	format format.Format
	// track is handed to Session.Start. Its Codec stays nil until the codec
	// parameters are known and is never changed after that, because the
	// sink may read it concurrently once the stream has started.
	track *ingest.Track
	codec codecConverter
}

// codecConverter is the codec-specific half of a converter.
type codecConverter interface {
	// ready reports whether the track's codec parameters are complete.
	ready() bool
	// decode consumes one RTP packet whose timestamp, unwrapped to the
	// track's clock, is pts, and returns the units it completes (Track
	// unset). Errors are about this packet only; the stream goes on.
	decode(pkt *rtp.Packet, pts int64) ([]*ingest.Unit, error)
}

// newConverters picks, for every media of an SDP, the first format we can
// ingest; medias without one are listed in skipped.
func newConverters(desc *description.Session, log *slog.Logger) (convs []*converter, skipped []string) {
	for _, medi := range desc.Medias {
		var conv *converter
		var why error
		for _, forma := range medi.Formats {
			conv, why = newConverter(forma, log)
			if conv != nil {
				conv.media = medi
				break
			}
		}
		if conv == nil {
			s := string(medi.Type)
			for _, f := range medi.Formats {
				s += " " + f.Codec()
			}
			if why != nil {
				s += " (" + why.Error() + ")"
			}
			skipped = append(skipped, s)
			continue
		}
		convs = append(convs, conv)
	}
	return convs, skipped
}

func newConverter(forma format.Format, log *slog.Logger) (*converter, error) {
	c := &converter{format: forma, track: &ingest.Track{ClockRate: forma.ClockRate()}}
	switch f := forma.(type) {
	case *format.H264:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		sps, pps := f.SafeParams()
		c.codec = newVideoConverter(h264Kind, dec, c.track, log, sps, pps)
	case *format.H265:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		vps, sps, pps := f.SafeParams()
		c.codec = newVideoConverter(h265Kind, dec, c.track, log, vps, sps, pps)
	case *format.MPEG4Audio:
		if f.Config == nil {
			return nil, errors.New("AAC without config")
		}
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		c.track.Codec = &codecs.MPEG4Audio{Config: *f.Config}
		c.codec = &aacConverter{dec: dec}
	case *format.Opus:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		ch := f.ChannelCount
		if ch <= 0 {
			ch = 2 // a format built by hand rather than parsed from an SDP
		}
		c.track.Codec = &codecs.Opus{ChannelCount: ch}
		c.track.ClockRate = 48000 // RFC 7587: always 48 kHz, whatever the input rate
		c.codec = &opusConverter{dec: dec}
	default:
		return nil, nil
	}
	return c, nil
}

// aacConverter handles MPEG-4 Audio as RFC 3640 (mpeg4-generic), which is
// what ffmpeg and most encoders send.
type aacConverter struct {
	dec *rtpmpeg4audio.Decoder
}

func (*aacConverter) ready() bool { return true }

// decode returns one unit per access unit: a packet may carry several, and
// its timestamp is the first one's, so each following AU is 1024 samples later.
func (c *aacConverter) decode(pkt *rtp.Packet, pts int64) ([]*ingest.Unit, error) {
	aus, err := c.dec.Decode(pkt)
	if err != nil {
		if errors.Is(err, rtpmpeg4audio.ErrMorePacketsNeeded) {
			return nil, nil
		}
		return nil, fmt.Errorf("aac: %w", err)
	}
	units := make([]*ingest.Unit, 0, len(aus))
	for i, au := range aus {
		if len(au) == 0 {
			continue
		}
		t := pts + int64(i)*mpeg4audio.SamplesPerAccessUnit
		units = append(units, &ingest.Unit{PTS: t, DTS: t, Key: true, Data: [][]byte{clip(au)}})
	}
	return units, nil
}

// opusConverter handles Opus: one packet is one frame (RFC 7587).
type opusConverter struct {
	dec interface {
		Decode(*rtp.Packet) ([]byte, error)
	}
}

func (*opusConverter) ready() bool { return true }

func (c *opusConverter) decode(pkt *rtp.Packet, pts int64) ([]*ingest.Unit, error) {
	frame, err := c.dec.Decode(pkt)
	if err != nil {
		return nil, fmt.Errorf("opus: %w", err)
	}
	if len(frame) == 0 {
		return nil, nil
	}
	return []*ingest.Unit{{PTS: pts, DTS: pts, Key: true, Data: [][]byte{clip(frame)}}}, nil
}

// clip limits a slice's capacity to its length. Decoders hand out slices of
// one packet buffer; a sink that appends to one must not overwrite the next.
func clip(b []byte) []byte { return b[:len(b):len(b)] }
