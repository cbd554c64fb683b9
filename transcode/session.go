package transcode

import (
	"errors"
	"io/fs"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// Bounds on what a session holds while it waits.
const (
	maxPending = 32 << 20 // source bytes held before the first publish
	maxEarly   = 4096     // rung units held before the first publish
	maxHeld    = 3 * 90000
)

// session is one published stream being transcoded. It is the ingest.Sink
// the protocol server writes to; run (its own goroutine) supervises ffmpeg.
//
// Source units go straight to the next handler's sink (the passthrough rung
// and AAC audio) and into ffmpeg; the rungs come back from ffmpeg's output
// goroutines. Everything written to the next sink happens under mu, so the
// origin sees one writer.
type session struct {
	t    *Transcoder
	log  *slog.Logger
	src  *ingest.Stream
	name string

	video, audio   int  // source track indexes (audio -1: none)
	audioTranscode bool // the source audio is not AAC: ffmpeg makes the AAC rendition
	passRung       *Rung
	rungs          []Rung  // transcoded rungs, in output order
	fps            float64 // the source's frame rate from its SPS (0: unknown)

	lastIn atomic.Int64 // publisher PTS of the newest source video unit
	inSeen atomic.Bool

	mu sync.Mutex
	// out is the current session at the next handler (nil before the first
	// publish); its track layout is below.
	out        ingest.Sink
	outVideo   int // source video → this track (-1: not carried)
	outAudio   int // source audio → this track (-1: not carried)
	rungBase   int // rung i → track rungBase+i, when out carries live's rungs
	procAudio  int // ffmpeg's audio output → this track (-1: none)
	holdAudio  bool
	held       []*ingest.Unit // source audio waiting for the leading rung (no passthrough rung)
	leaderDTS  int64          // newest DTS of the leading rung (90 kHz)
	leaderSeen bool
	live       *process // the process whose rungs out carries (nil: source only)
	ready      *process // a restarted process, switched to at the next source keyframe
	proc       *process // the process being fed
	started    bool     // the first source keyframe arrived
	pending    []*ingest.Unit
	pendingLen int
	closed     bool
	werr       error

	closing chan struct{}
	done    chan struct{}
}

var _ ingest.Sink = (*session)(nil)

func newSession(t *Transcoder, s *ingest.Stream, video, audio int, plan []Rung) *session {
	sess := &session{
		t: t, log: t.log.With("stream", s.Name), src: s, name: s.Name, video: video, audio: audio,
		outVideo: -1, outAudio: -1, procAudio: -1,
		closing: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range plan {
		if plan[i].Passthrough {
			sess.passRung = &plan[i]
		} else {
			sess.rungs = append(sess.rungs, plan[i])
		}
	}
	if audio >= 0 {
		_, aac := s.Tracks[audio].Codec.(*codecs.MPEG4Audio)
		_, opus := s.Tracks[audio].Codec.(*codecs.Opus)
		sess.audioTranscode = !aac && opus
	}
	return sess
}

func (s *session) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.pid
}

// WriteUnit implements ingest.Sink.
func (s *session) WriteUnit(u *ingest.Unit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ingest.ErrClosed
	}
	if s.werr != nil {
		return s.werr
	}
	// Units are held (pending, queued for ffmpeg, held audio) beyond the
	// call; the caller may reuse its struct, not the payload.
	c := *u
	u = &c
	switch u.Track {
	case s.video:
		s.lastIn.Store(u.PTS)
		s.inSeen.Store(true)
		if s.proc != nil {
			s.proc.feed(u, true)
		}
		if u.Key {
			s.started = true
			if s.ready != nil {
				// A restarted ffmpeg is ready: begin the new session on this
				// keyframe, so the passthrough rung loses nothing.
				if err := s.switchTo(s.ready); err != nil {
					return s.fail(err)
				}
			}
		}
	case s.audio:
		if s.audioTranscode && s.proc != nil {
			s.proc.feed(u, false)
		}
	default:
		return nil // further tracks are not part of the ladder
	}
	if !s.started {
		return nil // the packager starts at a keyframe anyway
	}
	return s.fail(s.forward(u))
}

func (s *session) fail(err error) error {
	if err != nil && s.werr == nil {
		s.werr = err
	}
	return err
}

// forward passes a source unit to the current session, or holds it until the first one.
func (s *session) forward(u *ingest.Unit) error {
	if s.out == nil {
		s.pending = append(s.pending, u)
		s.pendingLen += u.Size()
		if s.pendingLen > maxPending {
			s.log.Warn("ffmpeg too slow to start; publishing the source alone meanwhile")
			return s.publishFallback()
		}
		return nil
	}
	if u.Track == s.audio {
		if s.outAudio < 0 {
			return nil
		}
		if s.holdAudio {
			s.held = append(s.held, u)
			return s.releaseAudio(false)
		}
		v := *u
		v.Track = s.outAudio
		return s.out.WriteUnit(&v)
	}
	if s.outVideo < 0 {
		return nil
	}
	v := *u
	v.Track = s.outVideo
	return s.out.WriteUnit(&v)
}

// releaseAudio writes held source audio the leading rung has caught up
// with. Without a passthrough rung the leader trails the publisher by
// ffmpeg's latency; holding audio back keeps it from running ahead of the
// leader's segment boundaries. Audio held longer than maxHeld goes anyway
// (the leader stalls while ffmpeg restarts), or, before the leader's first
// frame, is dropped: the packager would drop it too.
func (s *session) releaseAudio(all bool) error {
	rate := int64(s.src.Tracks[s.audio].ClockRate)
	newest := int64(0)
	if len(s.held) > 0 {
		newest = s.held[len(s.held)-1].PTS
	}
	n := 0
	for _, u := range s.held {
		behind := s.leaderSeen && rescale(u.PTS, rate, 90000) <= s.leaderDTS
		old := rescale(newest-u.PTS, rate, 90000) >= maxHeld
		if !all && !behind && !old {
			break
		}
		n++
		if !all && !behind && !s.leaderSeen {
			continue
		}
		v := *u
		v.Track = s.outAudio
		if err := s.out.WriteUnit(&v); err != nil {
			return err
		}
	}
	s.held = s.held[n:]
	return nil
}

// deliver takes a unit ffmpeg produced (output i of p).
func (s *session) deliver(p *process, i int, u *ingest.Unit) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case p == s.live && s.out != nil:
		if err := s.writeOutput(i, u); err != nil {
			s.log.Error("write rung", "err", err)
			s.fail(err)
		}
	case p == s.proc && s.out == nil && len(p.early) < maxEarly:
		p.early = append(p.early, early{i, u}) // flushed by the first publish
	}
}

// writeOutput writes a unit of ffmpeg's output i to the current session.
func (s *session) writeOutput(i int, u *ingest.Unit) error {
	if i < len(s.rungs) {
		u.Track = s.rungBase + i
	} else {
		u.Track = s.procAudio
	}
	if err := s.out.WriteUnit(u); err != nil {
		return err
	}
	if i == 0 && s.holdAudio {
		s.leaderDTS, s.leaderSeen = u.DTS, true
		return s.releaseAudio(false)
	}
	return nil
}

type early struct {
	out int
	u   *ingest.Unit
}

// switchTo ends the current session at the next handler and starts one
// carrying p's rungs. The origin marks the new session's first segment as a
// discontinuity in every rendition.
func (s *session) switchTo(p *process) error {
	var tracks []*ingest.Track
	outVideo, outAudio, procAudio := -1, -1, -1
	if s.passRung != nil {
		v := s.src.Tracks[s.video]
		tracks = append(tracks, &ingest.Track{Codec: v.Codec, ClockRate: v.ClockRate, Name: s.passRung.Name})
		outVideo = 0
	}
	rungBase := len(tracks)
	for i, r := range s.rungs {
		o := p.outs[i]
		tracks = append(tracks, &ingest.Track{Codec: o.codec, ClockRate: int(o.clock), Name: r.Name})
	}
	if s.audio >= 0 {
		if s.audioTranscode {
			o := p.outs[len(s.rungs)]
			procAudio = len(tracks)
			tracks = append(tracks, &ingest.Track{Codec: o.codec, ClockRate: int(o.clock), Name: s.t.cfg.Ladder.Audio.Name})
		} else {
			a := s.src.Tracks[s.audio]
			outAudio = len(tracks)
			tracks = append(tracks, &ingest.Track{Codec: a.Codec, ClockRate: a.ClockRate, Name: s.t.cfg.Ladder.Audio.Name})
		}
	}
	if err := s.publish(tracks); err != nil {
		return err
	}
	s.outVideo, s.outAudio, s.rungBase, s.procAudio = outVideo, outAudio, rungBase, procAudio
	s.holdAudio = s.passRung == nil && outAudio >= 0
	s.leaderSeen = false
	s.live, s.ready = p, nil
	// The leading track's units go first: the packager drops followers that
	// run more than a second ahead of a leader that has not started.
	if s.passRung != nil {
		if err := s.flushPending(); err != nil {
			return err
		}
	}
	for _, e := range p.early {
		if err := s.writeOutput(e.out, e.u); err != nil {
			return err
		}
	}
	p.early = nil
	if s.passRung == nil {
		if err := s.flushPending(); err != nil {
			return err
		}
	}
	s.log.Info("transcoding", "pid", p.pid, "renditions", len(tracks))
	return nil
}

// publishFallback publishes the source alone (ffmpeg has not delivered):
// its video under the passthrough rung's name (or the top rung's), its audio
// as the audio rendition.
func (s *session) publishFallback() error {
	v := s.src.Tracks[s.video]
	tracks := []*ingest.Track{{Codec: v.Codec, ClockRate: v.ClockRate, Name: s.fallbackName()}}
	outAudio := -1
	if s.audio >= 0 {
		a := s.src.Tracks[s.audio]
		tracks = append(tracks, &ingest.Track{Codec: a.Codec, ClockRate: a.ClockRate, Name: s.t.cfg.Ladder.Audio.Name})
		outAudio = 1
	}
	if err := s.publish(tracks); err != nil {
		return err
	}
	s.t.m.passthrough.WithLabelValues("fallback").Inc()
	s.outVideo, s.outAudio, s.procAudio, s.holdAudio, s.live = 0, outAudio, -1, false, nil
	return s.flushPending()
}

func (s *session) fallbackName() string {
	if s.passRung != nil {
		return s.passRung.Name
	}
	return s.rungs[0].Name
}

// publish closes the current session at the next handler and opens a new one.
func (s *session) publish(tracks []*ingest.Track) error {
	if s.out != nil {
		if s.holdAudio {
			_ = s.releaseAudio(true)
		}
		s.out.Close()
		s.out = nil
	}
	s.held = nil
	sink, err := s.t.next.Publish(&ingest.Stream{Name: s.src.Name, Protocol: s.src.Protocol, Remote: s.src.Remote,
		Tracks: tracks, Started: s.src.Started})
	if err != nil {
		return err
	}
	s.out = sink
	return nil
}

func (s *session) flushPending() error {
	pending := s.pending
	s.pending, s.pendingLen = nil, 0
	for _, u := range pending {
		if err := s.forward(u); err != nil {
			return err
		}
	}
	return nil
}

// Close implements ingest.Sink: ffmpeg finishes (its last frames still
// reach the origin), then the session at the next handler ends.
func (s *session) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.closing)
	<-s.done
	s.mu.Lock()
	if s.out == nil && len(s.pending) > 0 && s.werr == nil {
		_ = s.publishFallback()
	}
	if s.out != nil && s.holdAudio {
		_ = s.releaseAudio(true)
	}
	out := s.out
	s.out, s.live = nil, nil
	s.mu.Unlock()
	if out != nil {
		out.Close()
	}
	s.t.forget(s)
}

// onReady is called when p has sent every init segment.
func (s *session) onReady(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p != s.proc || s.werr != nil {
		return
	}
	if s.out == nil {
		// The first session: publish now with every rung and flush what was held.
		s.fail(s.switchTo(p))
		return
	}
	s.ready = p // switched to at the next source keyframe (WriteUnit)
}

// onFailure runs when p did not deliver: a stream still waiting for its
// first session gets the source alone instead of waiting for a restart.
func (s *session) onFailure(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == p {
		s.proc = nil
	}
	if s.ready == p {
		s.ready = nil
	}
	if s.out == nil && s.started && !s.closed && s.werr == nil {
		s.fail(s.publishFallback())
	}
}

// isMissing reports whether a start error means there is no ffmpeg binary.
func isMissing(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
