package rtsp

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"

	"github.com/livecdn/livecdn/ingest"
)

// videoKind is what differs between H.264 and H.265 for ingest.
type videoKind struct {
	name     string
	naluType func(nalu []byte) uint8
	isVCL    func(typ uint8) bool
	aud      uint8
	// params lists the parameter set types in the order they must precede
	// a picture: (VPS,) SPS, PPS.
	params         []uint8
	isRandomAccess func(au [][]byte) bool
	newDTS         func() dtsExtractor
	codec          func(params [][]byte) ingest.Codec
	// needMore are the decoder errors that only mean "keep feeding me".
	needMore []error
}

type dtsExtractor interface {
	Extract(au [][]byte, pts int64) (int64, error)
}

type auDecoder interface {
	Decode(pkt *rtp.Packet) ([][]byte, error)
}

var h264Kind = &videoKind{
	name:     "h264",
	naluType: func(n []byte) uint8 { return n[0] & 0x1f },
	isVCL:    func(t uint8) bool { return t >= 1 && t <= 5 },
	aud:      uint8(h264.NALUTypeAccessUnitDelimiter),
	params:   []uint8{uint8(h264.NALUTypeSPS), uint8(h264.NALUTypePPS)},
	// Only IDR: a recovery-point SEI is not a clean random access point for
	// a player that joins at a segment boundary.
	isRandomAccess: h264.IsRandomAccess,
	newDTS: func() dtsExtractor {
		d := &h264.DTSExtractor{}
		d.Initialize()
		return d
	},
	codec:    func(p [][]byte) ingest.Codec { return &codecs.H264{SPS: p[0], PPS: p[1]} },
	needMore: []error{rtph264.ErrMorePacketsNeeded, rtph264.ErrNonStartingPacketAndNoPrevious},
}

var h265Kind = &videoKind{
	name:     "h265",
	naluType: func(n []byte) uint8 { return (n[0] >> 1) & 0x3f },
	isVCL:    func(t uint8) bool { return t <= 31 },
	aud:      uint8(h265.NALUType_AUD_NUT),
	params: []uint8{
		uint8(h265.NALUType_VPS_NUT), uint8(h265.NALUType_SPS_NUT), uint8(h265.NALUType_PPS_NUT),
	},
	isRandomAccess: h265.IsRandomAccess,
	newDTS: func() dtsExtractor {
		d := &h265.DTSExtractor{}
		d.Initialize()
		return d
	},
	codec:    func(p [][]byte) ingest.Codec { return &codecs.H265{VPS: p[0], SPS: p[1], PPS: p[2]} },
	needMore: []error{rtph265.ErrMorePacketsNeeded, rtph265.ErrNonStartingPacketAndNoPrevious},
}

func (k *videoKind) paramIndex(typ uint8) int {
	for i, t := range k.params {
		if t == typ {
			return i
		}
	}
	return -1
}

// videoConverter turns H.264/H.265 RTP into access units with DTS.
type videoConverter struct {
	kind  *videoKind
	dec   auDecoder
	track *ingest.Track
	log   *slog.Logger

	// params are the latest parameter sets seen (SDP first, then in-band),
	// in kind.params order; nil while unknown.
	params [][]byte
	dts    dtsExtractor
	// gotKey is set at the first random access point: the DTS extractor and
	// any decoder downstream need one before anything else.
	gotKey  bool
	hasDTS  bool
	lastDTS int64
	warned  bool

	// The decoder may complete an access unit only when the next one's
	// first packet arrives (senders that never set the RTP marker); the AU
	// then has the previous packet's timestamp.
	prevIncomplete bool
	prevTS         uint32
	prevPTS        int64
}

// newVideoConverter starts with the parameter sets from the SDP, given in
// kind.params order; missing ones are waited for in-band.
func newVideoConverter(kind *videoKind, dec auDecoder, track *ingest.Track, log *slog.Logger, params ...[]byte) *videoConverter {
	c := &videoConverter{kind: kind, dec: dec, track: track, log: log, dts: kind.newDTS()}
	c.params = make([][]byte, len(kind.params))
	for i, p := range params {
		if i < len(c.params) && len(p) > 0 {
			c.params[i] = bytes.Clone(p)
		}
	}
	c.checkReady()
	return c
}

func (c *videoConverter) ready() bool { return c.track.Codec != nil }

// checkReady fills the track's codec once every parameter set is known.
func (c *videoConverter) checkReady() {
	if c.track.Codec != nil {
		return
	}
	ps := make([][]byte, len(c.params))
	for i, p := range c.params {
		if p == nil {
			return
		}
		ps[i] = bytes.Clone(p)
	}
	c.track.Codec = c.kind.codec(ps)
}

func (c *videoConverter) decode(pkt *rtp.Packet, pts int64) ([]*ingest.Unit, error) {
	au, err := c.dec.Decode(pkt)
	split := c.prevIncomplete && pkt.Timestamp != c.prevTS
	auPTS := pts
	if err == nil && split {
		auPTS = c.prevPTS
	}
	// After a split the current packet sits in the decoder's buffer.
	c.prevIncomplete = (err == nil && split) || c.kind.isNeedMoreErr(err)
	c.prevTS, c.prevPTS = pkt.Timestamp, pts
	if err != nil {
		if c.kind.isNeedMoreErr(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("%s: %w", c.kind.name, err)
	}
	return c.accessUnit(au, auPTS)
}

// isNeedMoreErr reports whether a decoder error only asks for more packets.
func (k *videoKind) isNeedMoreErr(err error) bool {
	if err == nil {
		return false
	}
	for _, e := range k.needMore {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// accessUnit cleans one access unit, learns parameter sets from it and
// computes its DTS.
func (c *videoConverter) accessUnit(au [][]byte, pts int64) ([]*ingest.Unit, error) {
	out := make([][]byte, 0, len(au)+len(c.params))
	has := make([]bool, len(c.params))
	vcl, changed := false, false
	for _, n := range au {
		if len(n) == 0 {
			continue
		}
		typ := c.kind.naluType(n)
		if typ == c.kind.aud {
			// Delimiters carry nothing a fragmented MP4 sample needs.
			continue
		}
		if i := c.kind.paramIndex(typ); i >= 0 {
			has[i] = true
			if !bytes.Equal(c.params[i], n) {
				changed = changed || c.params[i] != nil
				c.params[i] = bytes.Clone(n)
			}
		}
		vcl = vcl || c.kind.isVCL(typ)
		out = append(out, clip(n))
	}
	wasReady := c.ready()
	c.checkReady()
	if changed && wasReady && !c.warned {
		// The track description was handed on at Start and cannot change;
		// the new sets still travel in-band, which players handle.
		c.warned = true
		c.log.Warn("video parameter sets changed mid-stream; keeping the announced ones in the track description", "codec", c.kind.name)
	}
	if !vcl || !c.ready() {
		return nil, nil
	}
	key := c.kind.isRandomAccess(out)
	if !key && !c.gotKey {
		return nil, nil
	}
	if key {
		c.gotKey = true
		out = c.withParams(out, has)
	}
	dts, err := c.dts.Extract(out, pts)
	if err != nil {
		// Start over at the next random access point rather than pass on
		// made-up timestamps.
		c.dts = c.kind.newDTS()
		c.gotKey = false
		return nil, fmt.Errorf("%s: DTS: %w", c.kind.name, err)
	}
	if c.hasDTS && dts <= c.lastDTS {
		return nil, fmt.Errorf("%s: DTS %d not after %d; dropping access unit", c.kind.name, dts, c.lastDTS)
	}
	c.hasDTS, c.lastDTS = true, dts
	return []*ingest.Unit{{PTS: pts, DTS: dts, Key: key, Data: out}}, nil
}

// withParams makes a random access AU self-contained by putting the current
// parameter sets in front when it lacks any. Publishers that send them only
// in the SDP (ffmpeg does) would otherwise leave the DTS extractor and any
// player that joins at this keyframe without SPS/PPS.
func (c *videoConverter) withParams(au [][]byte, has []bool) [][]byte {
	complete := true
	for _, h := range has {
		complete = complete && h
	}
	if complete {
		return au
	}
	out := make([][]byte, 0, len(au)+len(c.params))
	for _, p := range c.params {
		// A copy per unit: the sink owns unit data and may keep it.
		out = append(out, bytes.Clone(p))
	}
	for _, n := range au {
		if c.kind.paramIndex(c.kind.naluType(n)) < 0 {
			out = append(out, n)
		}
	}
	return out
}
