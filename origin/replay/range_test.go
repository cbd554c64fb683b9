package replay

import (
	"net/url"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"1735787045", time.Unix(1735787045, 0), true},
		{"1735787045.25", time.Unix(1735787045, 250_000_000), true},
		{"2025-01-02T03:04:05Z", time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), true},
		{"2025-01-02T04:04:05.5+01:00", time.Date(2025, 1, 2, 3, 4, 5, 500_000_000, time.UTC), true},
		{"", time.Time{}, false},
		{"-5", time.Time{}, false},
		{"+5", time.Time{}, false},
		{"1e9", time.Time{}, false},
		{"12.", time.Time{}, false},
		{".5", time.Time{}, false},
		{"5", time.Time{}, false}, // 1970: absurd
		{"99999999999", time.Time{}, false},
		{"9999999999999999999999", time.Time{}, false},
		{"2025-13-02T03:04:05Z", time.Time{}, false},
		{"2025-01-02", time.Time{}, false},
		{"1735787045.1234567891", time.Time{}, false},
	} {
		got, err := ParseTime(tc.in)
		if (err == nil) != tc.ok || (tc.ok && !got.Equal(tc.want)) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseRange(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		q  string
		ok bool
	}{
		{"", true},
		{"from=1799999990", true},
		{"from=1799999990&to=1799999995", true},
		{"to=1799999995", true},
		{"from=1799999995&to=1799999990", false},
		{"from=1799999995&to=1799999995", false},
		{"from=1800000100", false},               // future
		{"from=1700000000&to=1799999995", false}, // longer than the cap
		{"from=1700000000", false},               // open, longer than the cap
		{"from=1&from=2", false},
		{"from=abc", false},
	} {
		q, _ := url.ParseQuery(tc.q)
		_, err := ParseRange(q, now, 24*time.Hour)
		if (err == nil) != tc.ok {
			t.Errorf("ParseRange(%q) err = %v; want ok=%v", tc.q, err, tc.ok)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"from=1735787045&to=1735787055", "from=2025-01-02T03:04:05Z", "to=1735787045.5",
		"from=1.&to=2", "from=%ff", "from=2025-01-02T03:04:05+25:00"} {
		f.Add(s)
	}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		r, err := ParseRange(q, now, time.Hour)
		if err != nil {
			return
		}
		if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
			t.Fatalf("%q: from %v not before to %v", raw, r.From, r.To)
		}
		for _, x := range []time.Time{r.From, r.To} {
			if !x.IsZero() && (x.Before(minTime) || x.After(maxTime)) {
				t.Fatalf("%q: absurd time %v accepted", raw, x)
			}
		}
		// The canonical query parses back to the same range.
		q2, _ := url.ParseQuery(r.Query())
		r2, err := ParseRange(q2, now, time.Hour)
		if err != nil || !r2.From.Equal(r.From) || !r2.To.Equal(r.To) {
			t.Fatalf("%q: canonical %q gives %v, %v", raw, r.Query(), r2, err)
		}
	})
}
