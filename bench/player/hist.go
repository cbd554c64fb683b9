package player

import (
	"math"
	"sync/atomic"
	"time"
)

// Hist is a lock-free histogram of durations in log-spaced buckets (about
// 4% wide, from 10 µs to about 20 min): thousands of viewers record into one
// Hist without contention on a lock, and a snapshot per second gives
// percentiles per interval by subtraction.
type Hist struct {
	b   [histBuckets]atomic.Int64
	sum atomic.Int64 // nanoseconds
}

const (
	histBuckets = 480
	histMin     = 10 * time.Microsecond
	histGrowth  = 1.04
)

var logGrowth = math.Log(histGrowth)

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin))/logGrowth) + 1
	return min(i, histBuckets-1)
}

// upper is the upper bound of bucket i.
func upper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i)))
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	h.b[bucketOf(max(d, 0))].Add(1)
	h.sum.Add(int64(d))
}

// Snapshot copies the counts.
func (h *Hist) Snapshot() HistSnap {
	var s HistSnap
	for i := range h.b {
		s.Counts[i] = h.b[i].Load()
		s.N += s.Counts[i]
	}
	s.Sum = time.Duration(h.sum.Load())
	return s
}

// HistSnap is a copy of a Hist at one moment.
type HistSnap struct {
	Counts [histBuckets]int64
	N      int64
	Sum    time.Duration
}

// Sub returns s minus an earlier snapshot: the observations in between.
func (s HistSnap) Sub(prev HistSnap) HistSnap {
	for i := range s.Counts {
		s.Counts[i] -= prev.Counts[i]
	}
	s.N -= prev.N
	s.Sum -= prev.Sum
	return s
}

// Quantile returns the upper bound of the bucket holding quantile q (0..1),
// or 0 with no observations.
func (s HistSnap) Quantile(q float64) time.Duration {
	if s.N == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(s.N)))
	rank = max(rank, 1)
	var seen int64
	for i, c := range s.Counts {
		seen += c
		if seen >= rank {
			return upper(i)
		}
	}
	return upper(histBuckets - 1)
}

// Mean is the average observation.
func (s HistSnap) Mean() time.Duration {
	if s.N == 0 {
		return 0
	}
	return s.Sum / time.Duration(s.N)
}
