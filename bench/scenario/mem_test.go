//go:build !race

package scenario_test

import (
	"testing"
	"time"

	"github.com/livecdn/livecdn/bench/sut"
	"github.com/livecdn/livecdn/internal/testenv"
)

// 2,000 LL-HLS viewers hold at most 20 KiB each in the emulator (live heap
// and goroutine stacks after a GC, at the peak): the budget for
// 20,000 viewers on one box. Memory is not a timing figure, so the bound
// holds on a loaded box too. One-second parts keep the request rate (about
// 4,000/s) within what CI's two cores serve; a waiting viewer holds the
// same at any part length. Not under -race, whose shadow memory and
// instrumented stacks say nothing about the emulator's own needs.
func TestMemoryPerViewer2000(t *testing.T) {
	if testing.Short() {
		t.Skip("2,000 viewers for 12 s")
	}
	sys, err := sut.Start(t.Context(), sut.Config{Binary: testenv.Binary(t), Stream: "s", Part: time.Second, Segment: 4 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sys.Close)
	res := run(t, sys, "steady", 2000, 12*time.Second)
	s := res.Summary
	t.Logf("%d B per viewer, %.0f req/s", s.BytesPerViewer, s.ReqPerSec)
	if s.PeakViewers != 2000 {
		t.Fatalf("peak %d viewers, want 2000", s.PeakViewers)
	}
	if s.BytesPerViewer <= 0 || s.BytesPerViewer > 20<<10 {
		t.Errorf("%d B per viewer, want at most 20 KiB (%d)", s.BytesPerViewer, 20<<10)
	}
	if s.Requests < 2000*2*12/2 {
		t.Errorf("%d requests, want at least half of a part and a reload per viewer a second", s.Requests)
	}
}
