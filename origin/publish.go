package origin

import (
	"fmt"
	"sync"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

// Publish implements ingest.Handler: it starts a packaging session for s.
func (o *Origin) Publish(s *ingest.Stream) (ingest.Sink, error) {
	tracks, names, video, err := pickTracks(s.Tracks)
	if err != nil {
		return nil, err
	}
	st := o.streams.Open(s.Name)
	state, err := o.state.Load(s.Name)
	if err != nil {
		return nil, err
	}
	disc := state.Sessions > 0 // an earlier session existed: this one is a discontinuity
	state.Sessions++
	if disc {
		state.DiscSeq++
	}
	if state.Created.IsZero() {
		state.Created = s.Started
	}
	if err := o.state.Save(s.Name, state); err != nil {
		return nil, fmt.Errorf("save stream state: %w", err)
	}
	sess := &session{o: o, name: s.Name, stream: st, state: state, disc: disc, firstMSN: state.NextMSN}
	rends := st.Begin(state.Sessions, state.Created, s.Started,
		live.Publisher{Protocol: s.Protocol, Remote: s.Remote, Since: s.Started}, names, video)
	for i, t := range tracks {
		info, err := cmaf.Describe(t)
		if err != nil {
			return nil, err
		}
		init, err := cmaf.Init(t)
		if err != nil {
			return nil, err
		}
		rends[i].SetTrack(state.Sessions, t, info, init)
	}
	sess.rends = rends
	sess.pk, err = cmaf.NewPackager(o.cfg.Packaging, tracks, state.NextMSN, sess.emit)
	if err != nil {
		return nil, err
	}
	sess.index = make([]int, len(s.Tracks))
	for i := range sess.index {
		sess.index[i] = -1
	}
	for i, t := range tracks {
		for j, orig := range s.Tracks {
			if orig == t {
				sess.index[j] = i
			}
		}
	}
	return sess, nil
}

// pickTracks chooses the tracks that become renditions: every video track
// (named by the transcoder, or "video") and the first audio track ("audio").
func pickTracks(in []*ingest.Track) (tracks []*ingest.Track, names []string, video []bool, err error) {
	haveAudio := false
	for _, t := range in {
		if _, err := cmaf.Describe(t); err != nil {
			continue // a codec we cannot package; the others still play
		}
		name := t.Name
		switch {
		case t.IsVideo() && name == "":
			name = "video"
			if len(tracks) > 0 {
				name = fmt.Sprintf("video%d", len(tracks))
			}
		case !t.IsVideo():
			if haveAudio {
				continue
			}
			haveAudio = true
			if name == "" {
				name = "audio"
			}
		}
		tracks, names, video = append(tracks, t), append(names, name), append(video, t.IsVideo())
	}
	if len(tracks) == 0 {
		return nil, nil, nil, fmt.Errorf("no track with a supported codec (H.264, H.265, AAC, Opus)")
	}
	return tracks, names, video, nil
}

// session feeds one publisher's units through the packager into the renditions.
type session struct {
	o        *Origin
	name     string
	stream   *live.Stream
	rends    []*live.Rendition
	index    []int // ingest track → packager track, -1 if dropped
	disc     bool
	firstMSN int64

	mu    sync.Mutex // RTSP delivers tracks from separate goroutines
	pk    *cmaf.Packager
	state live.State
	zero  time.Time
	used  int64 // one past the last MSN emitted; 0 before the first
}

// msnBlock is how many media sequence numbers one state save reserves.
const msnBlock = 32

var _ ingest.Sink = (*session)(nil)

// WriteUnit implements ingest.Sink.
func (s *session) WriteUnit(u *ingest.Unit) error {
	i := s.index[u.Track]
	if i < 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zero.IsZero() {
		s.zero = u.Received
	}
	v := *u
	v.Track = i
	return s.pk.Write(&v)
}

// Close implements ingest.Sink: the current part is finished and the
// renditions are marked idle.
func (s *session) Close() {
	s.mu.Lock()
	s.pk.Flush()
	if s.used > 0 && s.used < s.state.NextMSN {
		// Return the unused rest of the reserved block: the next session
		// continues right after the last number this one used.
		st, err := s.o.state.Load(s.name)
		if err == nil && st.Sessions == s.state.Sessions { // no newer session took over
			st.NextMSN = s.used
			if err := s.o.state.Save(s.name, st); err != nil {
				s.o.log.Error("save stream state", "stream", s.name, "err", err)
			}
		}
	}
	s.mu.Unlock()
	s.stream.End(s.rends)
}

// emit stores a part; it runs on the publisher's goroutine with mu held.
func (s *session) emit(p *cmaf.Part) {
	if p.MSN >= s.state.NextMSN {
		// Reserve numbers on disk before anyone can see them, so a restart
		// never reuses one. A block at a time keeps the file write (and its
		// wait on a busy filesystem journal, e.g. behind the archive's
		// fsyncs) off all but one segment in msnBlock; a crash skips at most
		// the rest of a block, a clean end gives it back (Close).
		s.state.NextMSN = p.MSN + msnBlock
		if err := s.o.state.Save(s.name, s.state); err != nil {
			s.o.log.Error("save stream state", "stream", s.name, "err", err)
		}
	}
	s.used = p.MSN + 1
	r := s.rends[p.Track]
	seg := live.Segment{
		MSN: p.MSN, Session: s.state.Sessions, DiscSeq: s.state.DiscSeq,
		Discontinuity: s.disc && p.MSN == s.firstMSN,
		Start:         p.Start,
		PDT:           s.zero.Add(live.Dur(p.Start, int64(r.Timescale()))),
	}
	r.AddPart(seg, &live.Part{Index: p.Index, Duration: p.Duration, Independent: p.Independent, Data: p.Data}, p.Last)
	if !p.Trigger.IsZero() {
		s.o.metrics.partReady.Observe(time.Since(p.Trigger).Seconds())
	}
	s.o.metrics.parts.WithLabelValues(r.Name).Inc()
}
