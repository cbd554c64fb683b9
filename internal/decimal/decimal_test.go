package decimal

import (
	"strconv"
	"testing"
)

func TestParse(t *testing.T) {
	for s, want := range map[string]int64{"0": 0, "7": 7, "120": 120, "999999999999999999": 999999999999999999} {
		if n, ok := Parse(s); !ok || n != want {
			t.Errorf("Parse(%q) = %d, %v", s, n, ok)
		}
	}
	for _, s := range []string{"", "01", "-1", "+1", "1e3", " 1", "1 ", "1000000000000000000", "１"} {
		if _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("123")
	f.Fuzz(func(t *testing.T, s string) {
		if n, ok := Parse(s); ok && strconv.FormatInt(n, 10) != s {
			t.Fatalf("%q parsed to %d", s, n)
		}
	})
}
