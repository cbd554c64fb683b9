package live

import (
	"sort"
	"sync"
	"time"
)

// Publisher describes who feeds a stream.
type Publisher struct {
	Protocol string
	Remote   string
	Since    time.Time
}

// Stream is one live stream and its renditions.
type Stream struct {
	// Name is the stream name.
	Name string

	mu         sync.RWMutex
	created    time.Time
	renditions []*Rendition
	session    int
	zero       time.Time // wall-clock time of media time 0 of the session
	publisher  *Publisher
	idleSince  time.Time
	window     int
	onSegment  func(Completed)
}

// Created is the stream's first publish ever (DASH availabilityStartTime).
func (s *Stream) Created() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.created
}

// Begin starts a publish session: renditions named in names are created when
// new and returned in order; the others stay listed until their segments age out.
func (s *Stream) Begin(session int, created, zero time.Time, pub Publisher, names []string, video []bool) []*Rendition {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session, s.created, s.zero, s.publisher = session, created, zero, &pub
	out := make([]*Rendition, len(names))
	for i, n := range names {
		var r *Rendition
		for _, have := range s.renditions {
			if have.Name == n {
				r = have
			}
		}
		if r == nil {
			r = newRendition(s.Name, n, video[i], s.window, s.onSegment)
			s.renditions = append(s.renditions, r)
		}
		out[i] = r
	}
	sort.SliceStable(s.renditions, func(i, j int) bool { return s.renditions[i].Video && !s.renditions[j].Video })
	return out
}

// End marks the session over.
func (s *Stream) End(rs []*Rendition) {
	for _, r := range rs {
		r.end()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.publisher = nil
	s.idleSince = time.Now()
}

// Zero returns the wall-clock time of the current session's media time 0.
func (s *Stream) Zero() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.zero
}

// Publisher returns the live publisher, or nil when the stream is idle.
func (s *Stream) Publisher() *Publisher {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.publisher
}

// IdleFor returns how long the stream has had no publisher (0 while live).
func (s *Stream) IdleFor(now time.Time) time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.publisher != nil || s.idleSince.IsZero() {
		return 0
	}
	return now.Sub(s.idleSince)
}

// Renditions lists the renditions, video first.
func (s *Stream) Renditions() []*Rendition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*Rendition(nil), s.renditions...)
}

// Rendition finds a rendition by name.
func (s *Stream) Rendition(name string) *Rendition {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, r := range s.renditions {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// Registry holds the streams an origin knows.
type Registry struct {
	// Window is the number of complete segments each rendition keeps.
	Window int
	// OnSegment, when set, is called once for every segment that completes,
	// on the publisher's goroutine and outside any lock (the archive).
	OnSegment func(Completed)

	mu      sync.RWMutex
	streams map[string]*Stream
}

// Open returns the stream called name, creating it if needed.
func (g *Registry) Open(name string) *Stream {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.streams == nil {
		g.streams = map[string]*Stream{}
	}
	s := g.streams[name]
	if s == nil {
		s = &Stream{Name: name, window: g.Window, onSegment: g.OnSegment}
		g.streams[name] = s
	}
	return s
}

// Get returns the stream called name, or nil.
func (g *Registry) Get(name string) *Stream {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.streams[name]
}

// List returns every stream, sorted by name.
func (g *Registry) List() []*Stream {
	g.mu.RLock()
	out := make([]*Stream, 0, len(g.streams))
	for _, s := range g.streams {
		out = append(out, s)
	}
	g.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Expire forgets streams idle for longer than linger.
func (g *Registry) Expire(now time.Time, linger time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for n, s := range g.streams {
		if s.IdleFor(now) > linger {
			delete(g.streams, n)
		}
	}
}
