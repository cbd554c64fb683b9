package edge

import "testing"

func TestParseRange(t *testing.T) {
	for _, tc := range []struct {
		h          string
		size       int
		start, end int
		ok         bool
	}{
		{"bytes=0-9", 100, 0, 9, true},
		{"bytes=90-", 100, 90, 99, true},
		{"bytes=-10", 100, 90, 99, true},
		{"bytes=-1000", 100, 0, 99, true},
		{"bytes=50-1000", 100, 50, 99, true},
		{"bytes=100-", 100, 0, 0, false},
		{"bytes=5-4", 100, 0, 0, false},
		{"bytes=0-1,5-6", 100, 0, 0, false},
		{"items=0-1", 100, 0, 0, false},
		{"bytes=+1-2", 100, 0, 0, false},
		{"bytes=-0", 100, 0, 0, false},
		{"bytes=-", 100, 0, 0, false},
		{"bytes=0-0", 0, 0, 0, false},
	} {
		s, e, ok := ParseRange(tc.h, tc.size)
		if ok != tc.ok || (ok && (s != tc.start || e != tc.end)) {
			t.Errorf("ParseRange(%q, %d) = %d, %d, %v", tc.h, tc.size, s, e, ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=3-", "bytes=9999999999999999999-", "bytes=1-2,3-4"} {
		f.Add(s, 100)
	}
	f.Fuzz(func(t *testing.T, h string, size int) {
		s, e, ok := ParseRange(h, size)
		if ok && (s < 0 || e < s || e >= size) {
			t.Fatalf("ParseRange(%q, %d) = %d, %d: out of bounds", h, size, s, e)
		}
	})
}
