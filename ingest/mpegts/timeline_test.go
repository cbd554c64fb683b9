package mpegts

import "testing"

func TestRescaleAndUnwrap(t *testing.T) {
	for _, tc := range []struct {
		rate   int
		in, to int64
	}{
		{90000, 123456, 123456},
		{48000, 90000, 48000},
		{48000, 15, 8},
		{48000, -1, -1},
		{44100, 90000 * 3600, 44100 * 3600},
		{44100, 1, 0},
	} {
		if got := newRescaler(tc.rate).conv(tc.in); got != tc.to {
			t.Errorf("rate %d: %d -> %d, want %d", tc.rate, tc.in, got, tc.to)
		}
	}
	var tl timeline
	for i, tc := range []struct{ raw, want int64 }{
		{mask33 - 10, mask33 - 10},
		{5, mask33 + 6},
		{mask33 - 20, mask33 - 20}, // a small step back across the wrap
		{100, mask33 + 101},
	} {
		if got := tl.unwrap(tc.raw); got != tc.want {
			t.Errorf("step %d: unwrap(%d) = %d, want %d", i, tc.raw, got, tc.want)
		}
	}
}
