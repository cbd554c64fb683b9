package transcode

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// output demuxes one of ffmpeg's fragmented MP4 outputs back into access
// units on the publisher's clock.
type output struct {
	p     *process
	idx   int
	video bool
	r     *os.File

	// Set from the init segment before the output counts as ready.
	codec     ingest.Codec
	timescale int64
	clock     int64         // ClockRate of the units: 90 kHz video, the sample rate for audio
	defaults  trackDefaults // from the trex box
	samples   []sample      // reused by every fragment

	offset     int64 // added to ffmpeg's timestamps (in clock ticks)
	haveOffset bool

	produced atomic.Bool
	last     atomic.Int64 // publisher PTS of the newest frame
}

// snapTolerance is how far (90 kHz ticks, 5 ms) an output timestamp may be
// from a fed one and still be snapped onto it.
const snapTolerance = 450

// maxBox bounds one MP4 box from ffmpeg (a frame of 4K video fits many times).
const maxBox = 64 << 20

func (o *output) read() {
	defer o.p.readers.Done()
	defer o.r.Close()
	br := bufio.NewReaderSize(o.r, 256<<10)
	var moof, scratch []byte
	fail := func(err error) {
		if !o.p.killed.Load() {
			o.p.cfg.log.Error("ffmpeg output unreadable; restarting it", "pid", o.p.pid, "output", o.idx, "err", err)
		}
		o.p.kill()
		_, _ = io.Copy(io.Discard, br) // until ffmpeg is gone
	}
	for {
		typ, box, hdr, err := readBox(br, scratch)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, os.ErrClosed) {
				fail(err)
			}
			return
		}
		if typ == "moof" {
			scratch = box[:0] // reused: a moof is parsed before the next box is read
		}
		switch typ {
		case "moov":
			if err := o.parseInit(box); err != nil {
				fail(fmt.Errorf("init segment: %w", err))
				return
			}
			if o.p.readyLeft.Add(-1) == 0 {
				close(o.p.ready)
			}
		case "moof":
			moof = box
			continue
		case "mdat":
			if moof != nil && o.codec != nil {
				if err := o.fragment(moof, box, hdr); err != nil {
					fail(fmt.Errorf("fragment: %w", err))
					return
				}
			}
		}
		moof = nil
	}
}

// readBox reads one top-level box: its type, all its bytes and the header
// length. A moof is read into buf when it is large enough (the units keep
// the mdat's bytes, and the codec parameters point into the moov's).
func readBox(r io.Reader, buf []byte) (typ string, box []byte, hdr int, err error) {
	var h [16]byte
	if _, err = io.ReadFull(r, h[:8]); err != nil {
		return "", nil, 0, err
	}
	size, hdr := uint64(binary.BigEndian.Uint32(h[:4])), 8
	typ = string(h[4:8])
	if size == 1 {
		if _, err = io.ReadFull(r, h[8:16]); err != nil {
			return "", nil, 0, err
		}
		size, hdr = binary.BigEndian.Uint64(h[8:16]), 16
	}
	if size < uint64(hdr) || size > maxBox {
		return "", nil, 0, fmt.Errorf("box %q: bad size %d", typ, size)
	}
	if typ == "moof" && uint64(cap(buf)) >= size {
		box = buf[:size]
	} else {
		box = make([]byte, size)
	}
	copy(box, h[:hdr])
	if _, err = io.ReadFull(r, box[hdr:]); err != nil {
		return "", nil, 0, err
	}
	return typ, box, hdr, nil
}

// parseInit reads the codec parameters (avcC SPS/PPS, or the AAC
// AudioSpecificConfig) and the timescale from ffmpeg's moov.
func (o *output) parseInit(moovBytes []byte) error {
	b, err := mp4.DecodeBoxSR(0, bits.NewFixedSliceReader(moovBytes))
	if err != nil {
		return err
	}
	moov, ok := b.(*mp4.MoovBox)
	if !ok || moov.Trak == nil || moov.Trak.Mdia == nil || moov.Trak.Mdia.Mdhd == nil ||
		moov.Trak.Mdia.Minf == nil || moov.Trak.Mdia.Minf.Stbl == nil || moov.Trak.Mdia.Minf.Stbl.Stsd == nil {
		return errors.New("moov without a complete track")
	}
	trak := moov.Trak
	o.timescale = int64(trak.Mdia.Mdhd.Timescale)
	if o.timescale <= 0 {
		return errors.New("zero timescale")
	}
	if moov.Mvex != nil && trak.Tkhd != nil {
		for _, t := range moov.Mvex.Trexs {
			if t.TrackID == trak.Tkhd.TrackID {
				o.defaults = trackDefaults{duration: t.DefaultSampleDuration, size: t.DefaultSampleSize, flags: t.DefaultSampleFlags}
			}
		}
	}
	stsd := trak.Mdia.Minf.Stbl.Stsd
	switch {
	case o.video:
		if stsd.AvcX == nil || stsd.AvcX.AvcC == nil {
			return errors.New("video output is not H.264 (no avcC): the rung's encoder must produce H.264")
		}
		c := stsd.AvcX.AvcC
		if len(c.SPSnalus) == 0 || len(c.PPSnalus) == 0 {
			return errors.New("avcC without SPS/PPS")
		}
		var sps h264.SPS
		if err := sps.Unmarshal(c.SPSnalus[0]); err != nil {
			return fmt.Errorf("sps: %w", err)
		}
		o.codec = &codecs.H264{SPS: c.SPSnalus[0], PPS: c.PPSnalus[0]}
		o.clock = 90000
	default:
		if stsd.Mp4a == nil || stsd.Mp4a.Esds == nil || stsd.Mp4a.Esds.DecConfigDescriptor == nil ||
			stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo == nil {
			return errors.New("audio output is not AAC")
		}
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo.DecConfig); err != nil {
			return fmt.Errorf("AudioSpecificConfig: %w", err)
		}
		o.codec = &codecs.MPEG4Audio{Config: asc}
		o.clock = o.timescale
	}
	return nil
}

// fragment turns one moof+mdat into units and delivers them.
func (o *output) fragment(moof, mdat []byte, hdr int) error {
	samples, err := parseFragment(moof, mdat, hdr, o.defaults, o.samples[:0])
	o.samples = samples
	if err != nil {
		return err
	}
	now := time.Now()
	for i := range samples {
		s := &samples[i]
		rawDTS := rescale(int64(s.DTS), o.timescale, o.clock)
		rawPTS := rescale(int64(s.DTS)+s.CTO, o.timescale, o.clock)
		if !o.haveOffset {
			o.offset, o.haveOffset = o.referencePTS()-rawPTS, true
		}
		u := &ingest.Unit{Track: o.idx, Received: now}
		if o.video {
			u.PTS = o.p.snap.snap(rawPTS+o.offset, snapTolerance)
			u.DTS = u.PTS - (rawPTS - rawDTS)
			u.Key = s.isSync()
			var au h264.AVCC
			if err := au.Unmarshal(s.Data); err != nil {
				return err
			}
			u.Data = au
			o.last.Store(u.PTS)
			o.produced.Store(true)
		} else {
			u.PTS = rawPTS + o.offset
			u.DTS, u.Key, u.Data = u.PTS, true, [][]byte{s.Data}
		}
		s.Data = nil // the unit owns it now
		o.p.cfg.deliver(o.p, o.idx, u)
	}
	return nil
}

// referencePTS is the publisher PTS the output's first frame corresponds to:
// the first fed keyframe for video, the first fed audio frame for audio
// (both in the output's clock). -copyts does not survive the mp4 muxer, so
// this is how the outputs get the publisher's clock back.
func (o *output) referencePTS() int64 {
	if o.video {
		return o.p.firstPTS.Load()
	}
	return rescale(o.p.audioFirst.Load(), int64(o.p.cfg.source.ClockRate), o.clock)
}
