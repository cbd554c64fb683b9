package transcode

import (
	"strings"
	"sync"
)

// lineTail keeps the last lines ffmpeg printed, for the log when it dies.
type lineTail struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (l *lineTail) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
	if len(l.lines) > l.max {
		l.lines = l.lines[len(l.lines)-l.max:]
	}
}

func (l *lineTail) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.lines)
	if n > 3 {
		n = 3
	}
	return strings.Join(l.lines[len(l.lines)-n:], " | ")
}

// snapTable holds the PTS of recently fed video frames. Output timestamps
// are snapped onto them, so a rung's frame carries exactly the timestamp of
// the source frame it was made from even if ffmpeg rounded on the way.
type snapTable struct {
	mu  sync.Mutex
	pts []int64 // sorted
}

const snapKeep = 1024

func (s *snapTable) add(v int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := len(s.pts)
	for i > 0 && s.pts[i-1] > v {
		i--
	}
	s.pts = append(s.pts, 0)
	copy(s.pts[i+1:], s.pts[i:])
	s.pts[i] = v
	if len(s.pts) > 2*snapKeep {
		s.pts = append(s.pts[:0], s.pts[snapKeep:]...)
	}
}

// snap returns the fed PTS nearest to v when it is within tol, else v.
func (s *snapTable) snap(v, tol int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	lo, hi := 0, len(s.pts)
	for lo < hi {
		m := (lo + hi) / 2
		if s.pts[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	best, bestD := v, tol+1
	for _, i := range []int{lo - 1, lo} {
		if i >= 0 && i < len(s.pts) {
			d := s.pts[i] - v
			if d < 0 {
				d = -d
			}
			if d < bestD {
				best, bestD = s.pts[i], d
			}
		}
	}
	return best
}

// rescale converts v from rate from to rate to without overflow for realistic values.
func rescale(v, from, to int64) int64 {
	if from == to {
		return v
	}
	q, r := v/from, v%from
	return q*to + r*to/from
}
