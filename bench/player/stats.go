package player

import (
	"sync/atomic"
	"time"
)

// Kind is what a request fetched.
type Kind int

// The request kinds Stats keeps apart.
const (
	KindPlaylist Kind = iota // multivariant or media playlist, MPD: plain reload
	KindBlocking             // blocking playlist reload (_HLS_msn)
	KindPart                 // LL-HLS part
	KindSegment              // segment or init section
	numKinds
)

// String names the kind for reports.
func (k Kind) String() string {
	return [...]string{"playlist", "blocking", "part", "segment"}[k]
}

// Stats are the counters every viewer of a run adds to. All fields are safe
// for concurrent use; read them with Snapshot.
type Stats struct {
	Active    atomic.Int64 // viewers running now
	Joined    atomic.Int64 // viewers started
	Playing   atomic.Int64 // viewers whose playback started and is not stalled
	Requests  [numKinds]atomic.Int64
	Bytes     atomic.Int64
	Errors    atomic.Int64 // failed requests (network, timeouts, non-2xx)
	Behind    atomic.Int64 // restarts after falling out of the live window
	Stalls    atomic.Int64
	StallNs   atomic.Int64
	Switches  atomic.Int64   // rendition switches
	Failovers atomic.Int64   // moves to an alternate edge
	Latency   [numKinds]Hist // request durations
	Startup   Hist           // from viewer start to first playing
	LiveDelay Hist           // live latency, sampled at each media arrival
}

// StatsSnap is a copy of Stats at one moment.
type StatsSnap struct {
	At                            time.Time
	Active, Joined, Playing       int64
	Requests                      [numKinds]int64
	Bytes, Errors, Behind, Stalls int64
	StallTime                     time.Duration
	Switches, Failovers           int64
	Latency                       [numKinds]HistSnap
	Startup, LiveDelay            HistSnap
}

// Snapshot copies the counters.
func (s *Stats) Snapshot() StatsSnap {
	out := StatsSnap{
		At: time.Now(), Active: s.Active.Load(), Joined: s.Joined.Load(), Playing: s.Playing.Load(),
		Bytes: s.Bytes.Load(), Errors: s.Errors.Load(), Behind: s.Behind.Load(), Stalls: s.Stalls.Load(),
		StallTime: time.Duration(s.StallNs.Load()), Switches: s.Switches.Load(), Failovers: s.Failovers.Load(),
		Startup: s.Startup.Snapshot(), LiveDelay: s.LiveDelay.Snapshot(),
	}
	for k := range numKinds {
		out.Requests[k] = s.Requests[k].Load()
		out.Latency[k] = s.Latency[k].Snapshot()
	}
	return out
}

// TotalRequests sums the requests of every kind.
func (s StatsSnap) TotalRequests() int64 {
	var n int64
	for _, v := range s.Requests {
		n += v
	}
	return n
}
