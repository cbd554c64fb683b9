// Package replay turns the archive index into replay playlists (HLS media
// and multivariant, static DASH MPD) and selects the segments of a time range;
// it also parses the from/to parameters every replay and clip URL takes.
package replay

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Range is a parsed from/to pair. A zero From means the start of the
// archive; a zero To means up to live (an open range).
type Range struct {
	From, To time.Time
}

// Open reports whether the range runs up to live.
func (r Range) Open() bool { return r.To.IsZero() }

// Times outside these bounds are refused as absurd: nothing was archived
// before 2000, and a far-future time is a typo or an attack on arithmetic.
var (
	minTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ErrBadRange wraps every range parse error (an HTTP 400).
var ErrBadRange = errors.New("bad range")

// ParseTime reads RFC 3339 (2025-01-02T03:04:05.5Z) or Unix seconds with an
// optional fraction (1735787045, 1735787045.25).
func ParseTime(s string) (time.Time, error) {
	if s == "" || len(s) > 40 {
		return time.Time{}, errors.New("empty or too long")
	}
	var t time.Time
	if strings.ContainsAny(s, "-:T") {
		var err error
		t, err = time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return time.Time{}, errors.New("not RFC 3339")
		}
	} else {
		whole, frac, hasFrac := strings.Cut(s, ".")
		if whole == "" || len(whole) > 12 || !digits(whole) || (hasFrac && (frac == "" || len(frac) > 9 || !digits(frac))) {
			return time.Time{}, errors.New("not Unix seconds")
		}
		sec, _ := strconv.ParseInt(whole, 10, 64)
		var ns int64
		if hasFrac {
			ns, _ = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		}
		t = time.Unix(sec, ns)
	}
	if t.Before(minTime) || t.After(maxTime) {
		return time.Time{}, fmt.Errorf("outside %d–%d", minTime.Year(), maxTime.Year())
	}
	return t.UTC(), nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// ParseRange reads from and to from a query. Both are optional; each may be
// given once. from must be before to, and the range at most max long (an
// open range is measured up to now).
func ParseRange(q url.Values, now time.Time, max time.Duration) (Range, error) {
	var r Range
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &r.From}, {"to", &r.To}} {
		v, ok := q[p.name]
		if !ok {
			continue
		}
		if len(v) != 1 {
			return r, fmt.Errorf("%w: %s given more than once", ErrBadRange, p.name)
		}
		t, err := ParseTime(v[0])
		if err != nil {
			return r, fmt.Errorf("%w: %s=%q: %v", ErrBadRange, p.name, v[0], err)
		}
		*p.dst = t
	}
	if !r.From.IsZero() && !r.To.IsZero() && !r.From.Before(r.To) {
		return r, fmt.Errorf("%w: from must be before to", ErrBadRange)
	}
	if !r.From.IsZero() && r.From.After(now) {
		return r, fmt.Errorf("%w: from is in the future", ErrBadRange)
	}
	if max > 0 && !r.From.IsZero() {
		end := r.To
		if end.IsZero() {
			end = now
		}
		if end.Sub(r.From) > max {
			return r, fmt.Errorf("%w: range longer than the %v limit", ErrBadRange, max)
		}
	}
	return r, nil
}

// Query is the canonical query string of a range (Unix seconds, shortest
// exact form), so one range has one URL and one cache entry.
func (r Range) Query() string {
	var parts []string
	if !r.From.IsZero() {
		parts = append(parts, "from="+unix(r.From))
	}
	if !r.To.IsZero() {
		parts = append(parts, "to="+unix(r.To))
	}
	return strings.Join(parts, "&")
}

func unix(t time.Time) string {
	s := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return s
}
