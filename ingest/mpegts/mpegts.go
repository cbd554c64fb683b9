// Package mpegts turns an MPEG-TS byte stream into ingest tracks and access
// units. The SRT server feeds it the bytes of a connection and the loop source
// the bytes of its embedded clip.
//
// Supported codecs are H.264, H.265, AAC (ADTS) and Opus; other elementary
// streams are ignored. Video codec parameters travel in-band in MPEG-TS, so
// Read waits until every video track has shown its parameter sets and a
// keyframe before it starts the session; the wait is bounded in stream time
// and in buffered bytes. Damaged input ends Read with an error wrapping
// ErrMalformed instead of stalling or panicking.
package mpegts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	tsfmt "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// Bounds that keep a bad publisher from holding memory or a stream name forever.
const (
	// maxStartWait is how much stream time (90 kHz) may pass before every
	// video track has shown its parameter sets and a keyframe. Encoders send
	// a keyframe at least every few seconds; 15 s also covers long GOPs.
	maxStartWait = 15 * 90000
	// maxPendingBytes bounds the units buffered while waiting for the start.
	maxPendingBytes = 8 << 20
	// maxDecodeErrors is how many decode errors in a row end the stream; a
	// lost SRT packet costs one, a stream of garbage costs many.
	maxDecodeErrors = 100
	// maxBytesWithoutUnit ends a stream that keeps sending packets that never
	// form an access unit of a supported track.
	maxBytesWithoutUnit = 32 << 20
)

// ErrMalformed is wrapped by the errors Read returns for input that is not
// usable MPEG-TS.
var ErrMalformed = errors.New("malformed MPEG-TS")

// ErrUnsupported is wrapped by the error Read returns when the program has no
// H.264, H.265, AAC or Opus track.
var ErrUnsupported = errors.New("no supported track in MPEG-TS (need H.264/H.265 video or AAC/Opus audio)")

// Session receives what Read demuxes. *ingest.Session implements it; tests
// and tools may pass their own.
type Session interface {
	// Start is called once, when the tracks and their codec parameters are known.
	Start(tracks []*ingest.Track) error
	// WriteUnit is called for every access unit after Start.
	WriteUnit(u *ingest.Unit) error
}

var _ Session = (*ingest.Session)(nil)

// Read demuxes the MPEG-TS stream r into sess: it calls sess.Start once the
// tracks are complete and then sess.WriteUnit for every access unit, until r
// ends, ctx is done, or an error occurs. It returns nil when r ends (io.EOF)
// after the session started.
//
// ctx is checked between reads; to interrupt a blocked read, close r (the SRT
// server closes the connection). Read does not close sess.
func Read(ctx context.Context, r io.Reader, sess Session) error {
	g := &guard{r: r}
	d := &demuxer{sess: sess, guard: g}
	tr := &tsfmt.Reader{R: g}
	if err := d.safe(tr.Initialize); err != nil {
		return d.initError(err)
	}
	if err := d.setup(tr); err != nil {
		return err
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := d.safe(tr.Read); err != nil {
			return d.endError(err)
		}
		if d.err != nil {
			return d.err
		}
		if g.n-d.lastUnitAt > maxBytesWithoutUnit {
			return fmt.Errorf("%w: no access unit of a supported track in the last %d MiB", ErrMalformed, maxBytesWithoutUnit>>20)
		}
	}
}

// demuxer bridges mediacommon's reader callbacks to a Session.
type demuxer struct {
	sess  Session
	guard *guard
	clock timeline

	tracks  []*track
	started bool
	// audio earlier than startAt (unwrapped 90 kHz PTS of the latest first
	// keyframe) is dropped, so every track starts with the first picture
	startAt  int64
	hasVideo bool
	pending  []pending
	pendBuf  int
	firstAt  int64 // unwrapped 90 kHz time of the first unit seen; valid when seen
	seen     bool

	lastUnitAt int64 // guard byte count when the last unit was demuxed
	decodeErrs int
	err        error // fatal error raised inside a callback that cannot return one

	inCallback bool
}

// pending is a unit held back until the session starts.
type pending struct {
	u     *ingest.Unit
	at    int64 // unwrapped 90 kHz PTS, to line audio up with the first keyframe
	video bool
}

// safe runs a step of mediacommon's parser and turns a panic inside the
// parser (never one from the Session) into ErrMalformed, so one broken
// publisher cannot take the process down.
func (d *demuxer) safe(step func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if d.inCallback {
				panic(p)
			}
			err = fmt.Errorf("%w: parser failure: %v", ErrMalformed, p)
		}
	}()
	return step()
}

func (d *demuxer) initError(err error) error {
	switch {
	case errors.Is(err, ErrMalformed):
		return err
	case d.guard.err != nil && !errors.Is(d.guard.err, io.EOF) && !errors.Is(d.guard.err, io.ErrUnexpectedEOF):
		return fmt.Errorf("read MPEG-TS: %w", d.guard.err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: stream ended before its program table (PAT/PMT) and first audio frames", ErrMalformed)
	case strings.Contains(err.Error(), "max recorded size"):
		// mediacommon records at most 1 MiB while it looks for the PMT.
		return fmt.Errorf("%w: no program table (PAT/PMT) or no first audio frame in the first MiB", ErrMalformed)
	default:
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

func (d *demuxer) endError(err error) error {
	if d.guard.err != nil && !errors.Is(d.guard.err, io.EOF) && !errors.Is(d.guard.err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrMalformed) {
		return fmt.Errorf("read MPEG-TS: %w", d.guard.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if d.started {
			return nil
		}
		return fmt.Errorf("%w: stream ended before it could start: %s", ErrMalformed, d.waitingFor())
	}
	return err
}

// setup maps the program's supported elementary streams to ingest tracks.
func (d *demuxer) setup(tr *tsfmt.Reader) error {
	var skipped []string
	for _, t := range tr.Tracks() {
		switch c := t.Codec.(type) {
		case *tscodecs.H264:
			st := d.add(kindH264, 90000)
			tr.OnDataH264(t, func(pts, dts int64, au [][]byte) error {
				return d.call(func() error { return d.video(st, pts, dts, au) })
			})
		case *tscodecs.H265:
			st := d.add(kindH265, 90000)
			tr.OnDataH265(t, func(pts, dts int64, au [][]byte) error {
				return d.call(func() error { return d.video(st, pts, dts, au) })
			})
		case *tscodecs.MPEG4Audio:
			if c.Config.SampleRate <= 0 {
				skipped = append(skipped, "AAC with an invalid sample rate")
				continue
			}
			st := d.add(kindAAC, c.Config.SampleRate)
			st.track.Codec = aacCodec(c)
			tr.OnDataMPEG4Audio(t, func(pts int64, aus [][]byte) error { return d.call(func() error { return d.aac(st, pts, aus) }) })
		case *tscodecs.Opus:
			st := d.add(kindOpus, 48000)
			st.track.Codec = opusCodec(c)
			tr.OnDataOpus(t, func(pts int64, pkts [][]byte) error { return d.call(func() error { return d.opus(st, pts, pkts) }) })
		default:
			skipped = append(skipped, codecName(t.Codec))
		}
	}
	if len(d.tracks) == 0 {
		if len(skipped) == 0 {
			return fmt.Errorf("%w; the program lists no elementary streams", ErrUnsupported)
		}
		return fmt.Errorf("%w; found %s", ErrUnsupported, strings.Join(skipped, ", "))
	}
	tr.OnDecodeError(d.decodeError)
	return nil
}

func (d *demuxer) add(k kind, rate int) *track {
	t := &track{index: len(d.tracks), kind: k, track: &ingest.Track{ClockRate: rate}, scale: newRescaler(rate)}
	t.ready = !k.video() // audio parameters come from the PMT and the first ADTS header
	d.tracks = append(d.tracks, t)
	return t
}

// call marks the time spent inside Session code so that safe does not
// swallow a panic that is not the parser's.
func (d *demuxer) call(f func() error) error {
	d.inCallback = true
	err := f()
	d.inCallback = false // left set when f panics, which safe then re-raises
	return err
}

func (d *demuxer) decodeError(err error) {
	d.decodeErrs++
	if d.decodeErrs > maxDecodeErrors && d.err == nil {
		d.err = fmt.Errorf("%w: %d decode errors in a row, last: %v", ErrMalformed, d.decodeErrs, err)
	}
}

// emit hands a unit on, or holds it until every track is ready.
func (d *demuxer) emit(t *track, u *ingest.Unit, at int64) error {
	d.progress(at)
	u.Track = t.index
	u.Received = time.Now()
	if d.started {
		if d.early(t.kind.video(), at) {
			return nil
		}
		return d.sess.WriteUnit(u)
	}
	d.pending = append(d.pending, pending{u: u, at: at, video: t.kind.video()})
	d.pendBuf += u.Size()
	if d.pendBuf > maxPendingBytes {
		return fmt.Errorf("%w: %d MiB buffered and still %s", ErrMalformed, maxPendingBytes>>20, d.waitingFor())
	}
	for _, t := range d.tracks {
		if !t.ready {
			return d.checkWait(at)
		}
	}
	return d.start()
}

// progress records that the stream produced a unit at 90 kHz time at.
func (d *demuxer) progress(at int64) {
	d.decodeErrs = 0
	d.lastUnitAt = d.guard.n
	if !d.seen {
		d.seen, d.firstAt = true, at
	}
}

// checkWait fails once the stream ran too long without becoming startable.
func (d *demuxer) checkWait(at int64) error {
	if !d.started && at-d.firstAt > maxStartWait {
		return fmt.Errorf("%w: after %d s of stream still %s", ErrMalformed, maxStartWait/90000, d.waitingFor())
	}
	return nil
}

func (d *demuxer) waitingFor() string {
	var w []string
	for _, t := range d.tracks {
		if !t.ready {
			w = append(w, fmt.Sprintf("track %d (%s) lacks %s", t.index, t.kind, t.missing()))
		}
	}
	if len(w) == 0 {
		return "no access unit arrived"
	}
	return "waiting: " + strings.Join(w, "; ")
}

// start reports the tracks and flushes the held units.
func (d *demuxer) start() error {
	tracks := make([]*ingest.Track, len(d.tracks))
	for i, t := range d.tracks {
		tracks[i] = t.track
		if t.kind.video() && (!d.hasVideo || t.keyAt > d.startAt) {
			d.hasVideo, d.startAt = true, t.keyAt
		}
	}
	if err := d.sess.Start(tracks); err != nil {
		return err
	}
	d.started = true
	held := d.pending
	d.pending, d.pendBuf = nil, 0
	for _, p := range held {
		if d.early(p.video, p.at) {
			continue
		}
		if err := d.sess.WriteUnit(p.u); err != nil {
			return err
		}
	}
	return nil
}

// early reports whether an audio unit at 90 kHz PTS at comes before the
// first picture. MPEG-TS muxers pack several audio frames per PES and send
// them late, so such units also arrive after the start.
func (d *demuxer) early(video bool, at int64) bool {
	return d.hasVideo && !video && at < d.startAt
}
