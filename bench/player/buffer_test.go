package player

import (
	"testing"
	"time"
)

// The buffer model counts a stall exactly when the playhead reaches the
// end of the buffer, and its length until enough media arrived again.
func TestBufferStall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pdt := t0.Add(-time.Second)
	b := buffer{resume: 100 * time.Millisecond}
	part := 200 * time.Millisecond
	now := t0
	for i := range 5 { // five parts arrive on time: no stall
		started, _, stalled := b.add(pdt.Add(time.Duration(i)*part), part, now)
		if stalled || (i == 0) != started {
			t.Fatalf("part %d: started %v stalled %v", i, started, stalled)
		}
		now = now.Add(part)
	}
	if got := b.latency(now); got != time.Second+part {
		t.Fatalf("latency %v, want 1.2 s", got)
	}
	// 1 s buffered ahead at most; nothing arrives for 3 s.
	now = now.Add(3 * time.Second)
	_, resumed, stalled := b.add(pdt.Add(5*part), part, now)
	if !stalled || !resumed || b.stalls != 1 {
		t.Fatalf("after a 3 s gap: stalled %v resumed %v stalls %d", stalled, resumed, b.stalls)
	}
	// The buffer ran dry at the arrival of the fifth part plus its duration.
	wantStall := now.Sub(t0.Add(5 * part))
	if b.stallTime != wantStall {
		t.Fatalf("stall time %v, want %v", b.stallTime, wantStall)
	}
	if got := b.finish(now.Add(100 * time.Millisecond)); got != wantStall {
		t.Fatalf("finish: %v", got)
	}
}

// A start delay holds the playhead: the latency grows by it.
func TestBufferStartDelay(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := buffer{resume: 100 * time.Millisecond, startDelay: 500 * time.Millisecond}
	started, _, _ := b.add(t0, 2*time.Second, t0)
	if started || b.started {
		t.Fatal("started before the delay")
	}
	started, _ = b.advance(t0.Add(time.Second))
	if !started || b.latency(t0.Add(time.Second)) != 500*time.Millisecond {
		t.Fatalf("started %v latency %v", started, b.latency(t0.Add(time.Second)))
	}
}
