package transcode

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// sample is one frame of an fMP4 fragment. Data points into the mdat
// payload it came from.
type sample struct {
	DTS   uint64 // decode time in the track's timescale
	CTO   int64  // composition offset: PTS = DTS + CTO
	Flags uint32
	Data  []byte
}

// isSync reports whether the sample flags mark a sync sample (a keyframe):
// sample_is_non_sync_sample is bit 16.
func (s *sample) isSync() bool { return s.Flags&0x00010000 == 0 }

// trackDefaults are the trex values a fragment falls back on.
type trackDefaults struct {
	duration, size, flags uint32
}

// Box flags of tfhd and trun (ISO/IEC 14496-12 8.8.7, 8.8.8).
const (
	tfhdBaseDataOffset  = 0x000001
	tfhdSampleDescIndex = 0x000002
	tfhdDefaultDuration = 0x000008
	tfhdDefaultSize     = 0x000010
	tfhdDefaultFlags    = 0x000020
	trunDataOffset      = 0x000001
	trunFirstFlags      = 0x000004
	trunDuration        = 0x000100
	trunSize            = 0x000200
	trunFlags           = 0x000400
	trunCTO             = 0x000800
)

var errShortBox = errors.New("truncated box")

// parseFragment reads the samples of one moof (the whole box, header
// included) whose mdat follows it directly; mdat is that whole box and
// mdatHdr its header length. It appends to out and returns it. Only what
// ffmpeg's mp4 muxer writes is needed: one traf with tfhd, tfdt and trun
// boxes, data offsets relative to the moof (default-base-is-moof) or
// absent (the data follows the moof). It replaces a general MP4 decoder
// because it runs for every frame of every rung.
func parseFragment(moof, mdat []byte, mdatHdr int, def trackDefaults, out []sample) ([]sample, error) {
	traf, err := child(moof, 8, "traf")
	if err != nil {
		return out, err
	}
	var (
		d        = def
		baseTime uint64
		haveTfhd bool
		dataEnd  = uint64(len(moof) + len(mdat)) // data offsets count from the moof start
		payload  = uint64(len(moof) + mdatHdr)
	)
	for off := 8; off < len(traf); {
		typ, body, next, err := box(traf, off)
		if err != nil {
			return out, err
		}
		off = next
		switch typ {
		case "tfhd":
			if len(body) < 8 {
				return out, errShortBox
			}
			flags := binary.BigEndian.Uint32(body) & 0xffffff
			p := 8
			field := func() (uint32, error) {
				if p+4 > len(body) {
					return 0, errShortBox
				}
				v := binary.BigEndian.Uint32(body[p:])
				p += 4
				return v, nil
			}
			if flags&tfhdBaseDataOffset != 0 {
				// An absolute file offset makes no sense for a pipe; ffmpeg
				// does not write it with default_base_moof.
				return out, errors.New("tfhd with base_data_offset")
			}
			if flags&tfhdSampleDescIndex != 0 {
				if _, err := field(); err != nil {
					return out, err
				}
			}
			for _, f := range []struct {
				bit uint32
				dst *uint32
			}{{tfhdDefaultDuration, &d.duration}, {tfhdDefaultSize, &d.size}, {tfhdDefaultFlags, &d.flags}} {
				if flags&f.bit != 0 {
					v, err := field()
					if err != nil {
						return out, err
					}
					*f.dst = v
				}
			}
			haveTfhd = true
		case "tfdt":
			if len(body) < 8 {
				return out, errShortBox
			}
			if body[0] == 1 {
				if len(body) < 12 {
					return out, errShortBox
				}
				baseTime = binary.BigEndian.Uint64(body[4:])
			} else {
				baseTime = uint64(binary.BigEndian.Uint32(body[4:]))
			}
		case "trun":
			if !haveTfhd {
				return out, errors.New("trun before tfhd")
			}
			out, baseTime, err = parseTrun(body, d, baseTime, moof, mdat, payload, dataEnd, out)
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// parseTrun appends a trun's samples and returns the decode time after them.
func parseTrun(body []byte, d trackDefaults, dts uint64, moof, mdat []byte, payload, dataEnd uint64, out []sample) ([]sample, uint64, error) {
	if len(body) < 8 {
		return out, dts, errShortBox
	}
	version, flags := body[0], binary.BigEndian.Uint32(body)&0xffffff
	count := binary.BigEndian.Uint32(body[4:])
	p := 8
	next := func() (uint32, error) {
		if p+4 > len(body) {
			return 0, errShortBox
		}
		v := binary.BigEndian.Uint32(body[p:])
		p += 4
		return v, nil
	}
	pos := payload // without a data offset the data starts with the mdat payload
	if flags&trunDataOffset != 0 {
		v, err := next()
		if err != nil {
			return out, dts, err
		}
		off := int64(int32(v))
		if off < 0 {
			return out, dts, fmt.Errorf("negative data offset %d", off)
		}
		pos = uint64(off)
	}
	firstFlags, haveFirst := uint32(0), false
	if flags&trunFirstFlags != 0 {
		v, err := next()
		if err != nil {
			return out, dts, err
		}
		firstFlags, haveFirst = v, true
	}
	per := 0
	for _, b := range []uint32{trunDuration, trunSize, trunFlags, trunCTO} {
		if flags&b != 0 {
			per += 4
		}
	}
	if uint64(count)*uint64(per) > uint64(len(body)-p) {
		return out, dts, errShortBox
	}
	for i := uint32(0); i < count; i++ {
		s := sample{DTS: dts, Flags: d.flags}
		dur, size := d.duration, d.size
		if flags&trunDuration != 0 {
			dur, _ = next()
		}
		if flags&trunSize != 0 {
			size, _ = next()
		}
		if flags&trunFlags != 0 {
			s.Flags, _ = next()
		} else if i == 0 && haveFirst {
			s.Flags = firstFlags
		}
		if flags&trunCTO != 0 {
			v, _ := next()
			if version == 0 {
				s.CTO = int64(v)
			} else {
				s.CTO = int64(int32(v))
			}
		}
		if pos < payload || pos+uint64(size) > dataEnd {
			return out, dts, fmt.Errorf("sample %d outside the mdat", i)
		}
		start := pos - uint64(len(moof))
		s.Data = mdat[start : start+uint64(size) : start+uint64(size)]
		pos += uint64(size)
		dts += uint64(dur)
		out = append(out, s)
	}
	return out, dts, nil
}

// box reads the box header at off in b: its type, its body (after the full
// header; for full boxes the version and flags are the body's first 4
// bytes) and where the next box starts.
func box(b []byte, off int) (typ string, body []byte, next int, err error) {
	if off+8 > len(b) {
		return "", nil, 0, errShortBox
	}
	size := uint64(binary.BigEndian.Uint32(b[off:]))
	hdr := 8
	if size == 1 {
		if off+16 > len(b) {
			return "", nil, 0, errShortBox
		}
		size, hdr = binary.BigEndian.Uint64(b[off+8:]), 16
	}
	if size < uint64(hdr) || size > uint64(len(b)-off) {
		return "", nil, 0, fmt.Errorf("box at %d: bad size %d", off, size)
	}
	end := off + int(size)
	return string(b[off+4 : off+8]), b[off+hdr : end], end, nil
}

// child returns the first child box of the given type (header included)
// among the boxes from off to the end of b.
func child(b []byte, off int, want string) ([]byte, error) {
	for off < len(b) {
		typ, _, next, err := box(b, off)
		if err != nil {
			return nil, err
		}
		if typ == want {
			return b[off:next], nil
		}
		off = next
	}
	return nil, fmt.Errorf("no %s box", want)
}
