package live

import (
	"context"
	"errors"
	"sync"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/cmaf"
)

// ErrNotFound means the object does not exist and will not appear.
var ErrNotFound = errors.New("not found")

// Rendition is one video or audio rendition of a stream.
type Rendition struct {
	// Name is the rendition's URL component (/live/{stream}/{name}/).
	Name string
	// Video tells video renditions from audio ones.
	Video bool

	mu        sync.RWMutex
	track     *ingest.Track
	info      cmaf.Info
	timescale int64
	inits     map[int][]byte
	segs      []*Segment // oldest first; the last one may be in progress
	window    int
	active    bool // a publisher is feeding it
	changed   chan struct{}
	stream    string
	onDone    func(Completed) // see Registry.OnSegment
}

func newRendition(stream, name string, video bool, window int, onDone func(Completed)) *Rendition {
	return &Rendition{Name: name, Video: video, window: window, inits: map[int][]byte{}, changed: make(chan struct{}),
		stream: stream, onDone: onDone}
}

// Completed is what Registry.OnSegment receives for each completed segment:
// the segment (a copy; Data is set) and what is needed to play it alone.
type Completed struct {
	Stream, Rendition string
	Video             bool
	Info              cmaf.Info
	Timescale         int64
	// Init is the init section of the segment's session.
	Init    []byte
	Segment Segment
}

// completed builds the hook argument for seg; callers hold mu.
func (r *Rendition) completed(seg *Segment) *Completed {
	if r.onDone == nil {
		return nil
	}
	return &Completed{Stream: r.stream, Rendition: r.Name, Video: r.Video, Info: r.info, Timescale: r.timescale,
		Init: r.inits[seg.Session], Segment: *seg}
}

// report calls the hook outside the lock, so a slow archive never holds readers.
func (r *Rendition) report(c ...*Completed) {
	for _, x := range c {
		if x != nil {
			r.onDone(*x)
		}
	}
}

// SetTrack installs the track of a new session and its init section.
func (r *Rendition) SetTrack(session int, t *ingest.Track, info cmaf.Info, init []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.track, r.info, r.timescale = t, info, int64(t.ClockRate)
	r.inits[session] = init
	r.active = true
	for s := range r.inits { // keep only the inits a listed segment still needs
		if s != session && !r.usesSession(s) {
			delete(r.inits, s)
		}
	}
}

func (r *Rendition) usesSession(s int) bool {
	for _, seg := range r.segs {
		if seg.Session == s {
			return true
		}
	}
	return false
}

// notify wakes every waiter; callers hold mu.
func (r *Rendition) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// AddPart appends a part, opening segment seg if it is new.
func (r *Rendition) AddPart(seg Segment, p *Part, last bool) {
	var done [2]*Completed
	defer func() { r.report(done[:]...) }() // runs after the unlock below
	r.mu.Lock()
	defer r.mu.Unlock()
	var cur *Segment
	if n := len(r.segs); n > 0 && r.segs[n-1].MSN == seg.MSN {
		cur = r.segs[n-1]
	} else {
		if n > 0 && !r.segs[n-1].Complete {
			r.segs[n-1].complete() // the session ended without closing it
			done[0] = r.completed(r.segs[n-1])
		}
		cur = &seg
		r.segs = append(r.segs, cur)
		r.trim()
	}
	cur.Parts = append(cur.Parts, p)
	cur.Duration += p.Duration
	cur.Size += len(p.Data)
	if last {
		cur.complete()
		done[1] = r.completed(cur)
	}
	r.notify()
}

// end marks the rendition idle (publisher gone) and wakes waiters.
func (r *Rendition) end() {
	var done *Completed
	defer func() { r.report(done) }()
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.segs); n > 0 && !r.segs[n-1].Complete {
		r.segs[n-1].complete()
		done = r.completed(r.segs[n-1])
	}
	r.active = false
	r.notify()
}

// trim drops segments beyond the window (plus the in-progress one).
func (r *Rendition) trim() {
	keep := r.window + 1
	if len(r.segs) > keep {
		drop := len(r.segs) - keep
		clear(r.segs[:drop])
		r.segs = r.segs[drop:]
	}
}

// Snapshot is a consistent copy of a rendition's state for writing a playlist.
type Snapshot struct {
	Name      string
	Video     bool
	Info      cmaf.Info
	Timescale int64
	Active    bool
	// Segments are oldest first; the last may be incomplete. The slice and
	// the Segment values are copies; Parts slices are shared but append-only.
	Segments []Segment
	// Inits maps session numbers to init sections present in Segments.
	Inits map[int][]byte
}

// Snapshot returns the current state.
func (r *Rendition) Snapshot() Snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Snapshot{Name: r.Name, Video: r.Video, Info: r.info, Timescale: r.timescale, Active: r.active,
		Segments: make([]Segment, len(r.segs)), Inits: r.inits}
	for i, seg := range r.segs {
		s.Segments[i] = *seg
		s.Segments[i].Parts = seg.Parts[:len(seg.Parts):len(seg.Parts)]
	}
	return s
}

// Init returns the init section of a session.
func (r *Rendition) Init(session int) ([]byte, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	b, ok := r.inits[session]
	return b, ok
}

// Last returns the MSN of the newest segment and the index of its newest
// part (-1 without parts); ok is false before the first part.
func (r *Rendition) Last() (msn int64, part int, ok bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.last()
}

func (r *Rendition) last() (int64, int, bool) {
	if len(r.segs) == 0 {
		return 0, -1, false
	}
	s := r.segs[len(r.segs)-1]
	return s.MSN, len(s.Parts) - 1, true
}

// Wait blocks until cond, called under the read lock, returns true, the
// context ends, or the rendition stops being fed for longer than idle.
func (r *Rendition) Wait(ctx context.Context, cond func(segs []*Segment) bool) error {
	for {
		r.mu.RLock()
		ok, ch := cond(r.segs), r.changed
		r.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Has reports whether segs contain part `part` of segment msn (part < 0:
// the whole segment, complete), or anything later.
func Has(segs []*Segment, msn int64, part int) bool {
	if len(segs) == 0 {
		return false
	}
	last := segs[len(segs)-1]
	switch {
	case last.MSN > msn:
		return true
	case last.MSN < msn:
		return false
	case part < 0:
		return last.Complete
	default:
		return len(last.Parts) > part
	}
}

func segOf(segs []*Segment, msn int64) *Segment {
	if len(segs) == 0 {
		return nil
	}
	i := msn - segs[0].MSN
	if i < 0 || i >= int64(len(segs)) || segs[i].MSN != msn {
		for _, s := range segs { // MSNs can skip across a restart
			if s.MSN == msn {
				return s
			}
		}
		return nil
	}
	return segs[i]
}

// Segment finds a segment in the window.
func (r *Rendition) Segment(msn int64) (*Segment, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := segOf(r.segs, msn)
	return s, s != nil
}

// PartData waits up to the context for part idx of segment msn. A part that
// is named by a preload hint is thus held and handed out the moment it is
// written. It returns ErrNotFound once the part can no longer appear.
func (r *Rendition) PartData(ctx context.Context, msn int64, idx int) ([]byte, error) {
	var data []byte
	var gone bool
	err := r.Wait(ctx, func(segs []*Segment) bool {
		if s := segOf(segs, msn); s != nil {
			if idx < len(s.Parts) {
				data = s.Parts[idx].Data
				return true
			}
			gone = s.Complete
			return gone
		}
		// Not in the window: gone if older, impossible if far ahead or idle.
		if len(segs) == 0 {
			gone = !r.active
			return gone
		}
		last := segs[len(segs)-1].MSN
		gone = msn < segs[0].MSN || msn > last+1 || !r.active
		return gone
	})
	if err != nil {
		return nil, err
	}
	if data == nil {
		return nil, ErrNotFound
	}
	return data, nil
}

// StreamSegment writes segment msn part by part as the parts are written,
// which is how LL-DASH players receive the segment in progress (chunked).
// It returns ErrNotFound if the segment is not in the window and is not the next one.
func (r *Rendition) StreamSegment(ctx context.Context, msn int64, write func([]byte) error) error {
	next := 0
	for {
		var chunk [][]byte
		var done, missing bool
		err := r.Wait(ctx, func(segs []*Segment) bool {
			s := segOf(segs, msn)
			if s == nil {
				if len(segs) == 0 || msn != segs[len(segs)-1].MSN+1 || !r.active {
					missing = true
					return true
				}
				return false
			}
			for ; next < len(s.Parts); next++ {
				chunk = append(chunk, s.Parts[next].Data)
			}
			done = s.Complete
			return len(chunk) > 0 || done
		})
		if err != nil {
			return err
		}
		if missing {
			if next == 0 {
				return ErrNotFound
			}
			return nil
		}
		for _, c := range chunk {
			if err := write(c); err != nil {
				return err
			}
		}
		if done {
			return nil
		}
	}
}

// Timescale returns the ticks per second of the rendition's media.
func (r *Rendition) Timescale() int64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.timescale
}
