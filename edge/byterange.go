package edge

import (
	"strconv"
	"strings"
)

// ParseRange parses a single-range Range header ("bytes=a-b", "bytes=a-",
// "bytes=-n") against a body of size bytes and returns the inclusive range.
// Multiple ranges, other units and unsatisfiable ranges return ok false; the
// edge answers 416 then (multipart responses are not worth their cost for
// players, which never ask for them).
func ParseRange(h string, size int) (start, end int, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(h), "bytes=")
	if !found || strings.Contains(spec, ",") || size <= 0 {
		return 0, 0, false
	}
	a, b, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if a == "" { // suffix: the last n bytes
		n, err := strconv.Atoi(b)
		if err != nil || n <= 0 || !digits(b) {
			return 0, 0, false
		}
		return max(size-n, 0), size - 1, true
	}
	s, err := strconv.Atoi(a)
	if err != nil || !digits(a) || s >= size {
		return 0, 0, false
	}
	if b == "" {
		return s, size - 1, true
	}
	e, err := strconv.Atoi(b)
	if err != nil || !digits(b) || e < s {
		return 0, 0, false
	}
	return s, min(e, size-1), true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
