package ingesttest

import (
	"errors"
	"sync"

	"github.com/livecdn/livecdn/ingest"
)

// Session records what a reader hands to a session it drives directly (such
// as mpegts.Read): how often Start was called, the tracks of the latest call,
// and every unit. It has the Start and WriteUnit methods of ingest.Session
// but no Hub behind it, and unlike ingest.Session it fills in nothing (not
// even Unit.Received), so a test sees exactly what the reader produced. The
// zero value is ready to use.
type Session struct {
	mu     sync.Mutex
	starts int
	tracks []*ingest.Track
	units  []ingest.Unit
}

// Start records tracks; a later Start replaces them.
func (s *Session) Start(tracks []*ingest.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	s.tracks = tracks
	return nil
}

// WriteUnit keeps a copy of u (sharing u.Data). Like ingest.Session it
// fails before Start.
func (s *Session) WriteUnit(u *ingest.Unit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.starts == 0 {
		return errors.New("WriteUnit before Start")
	}
	s.units = append(s.units, *u)
	return nil
}

// Starts returns how many times Start was called.
func (s *Session) Starts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.starts
}

// Tracks returns the tracks of the latest Start, or nil before any.
func (s *Session) Tracks() []*ingest.Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracks
}

// Units returns a copy of the units written so far, of all tracks, in order.
func (s *Session) Units() []ingest.Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ingest.Unit(nil), s.units...)
}

// TrackUnits returns the units of track i written so far.
func (s *Session) TrackUnits(i int) []ingest.Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ofTrack(s.units, i)
}
