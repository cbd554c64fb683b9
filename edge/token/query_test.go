package token

import (
	"testing"
	"time"
)

func TestStripQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"exp=1&sig=abc", ""},
		{"_HLS_msn=9&_HLS_part=3", "_HLS_msn=9&_HLS_part=3"},
		{"_HLS_msn=9&exp=1&_HLS_part=3&sig=abc", "_HLS_msn=9&_HLS_part=3"},
		{"exp=1&sig=abc&_HLS_skip=YES", "_HLS_skip=YES"},
		{"sig=abc&b=2&exp=1&a=1", "b=2&a=1"},
		{"e%78p=1&%73ig=abc&x=%41", "x=%41"},
		{"exp&sig", ""},
		{"exp=1&exp=2&z=1", "z=1"},
		{"expires=1&sigma=2", "expires=1&sigma=2"},
		{"EXP=1&Sig=2", "EXP=1&Sig=2"},
		{"a=1&&b=2&exp=1", "a=1&&b=2"},
		{"a=%zz&exp=1", "a=%zz"},
		{"from=2025-01-01T00:00:00Z&to=1735690000&exp=1&sig=x", "from=2025-01-01T00:00:00Z&to=1735690000"},
	} {
		if got := StripQuery(tc.in); got != tc.want {
			t.Errorf("StripQuery(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripQueryNoAllocWithoutToken(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { StripQuery("_HLS_msn=9&_HLS_part=3") }); n != 0 {
		t.Errorf("%v allocations for a query without a token", n)
	}
}

func TestQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"exp=1735693200&sig=abc-_", "exp=1735693200&sig=abc-_"},
		{"_HLS_msn=9&sig=abc&x=1&exp=17", "exp=17&sig=abc"},
		{"e%78p=17&sig=a%62c", "exp=17&sig=abc"},
		{"exp=17", ""},
		{"sig=abc", ""},
		{"exp=17&sig=", ""},
		{"exp=17&sig=a&sig=b", ""},
		{"exp=%zz&sig=a", ""},
		{"", ""},
	} {
		if got := Query(tc.in); got != tc.want {
			t.Errorf("Query(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// What a viewer's request carries, Query passes on: it verifies again.
	s := signer(t)
	q := "_HLS_msn=9&" + sign(t, s, "/live/cam1/index.m3u8", now.Add(time.Minute))
	if err := s.Verify("/live/cam1/720p/seg9.m4s", Query(q), now); err != nil {
		t.Errorf("Query lost the token: %v", err)
	}
}

func TestTokenize(t *testing.T) {
	const tok = "exp=1&sig=S"
	for _, tc := range []struct{ in, want string }{
		{"seg5.m4s", "seg5.m4s?exp=1&sig=S"},
		{"720p/seg$Number$.m4s", "720p/seg$Number$.m4s?exp=1&sig=S"},
		{"../audio/index.m3u8", "../audio/index.m3u8?exp=1&sig=S"},
		{"/live/cam1/720p/seg5.m4s", "/live/cam1/720p/seg5.m4s?exp=1&sig=S"},
		{"seg5.m4s?a=1", "seg5.m4s?a=1&exp=1&sig=S"},
		{"seg5.m4s?a=1&", "seg5.m4s?a=1&exp=1&sig=S"},
		{"seg5.m4s?", "seg5.m4s?exp=1&sig=S"},
		{"seg5.m4s?exp=0&sig=old", "seg5.m4s?exp=1&sig=S"},
		{"seg5.m4s?a=1&sig=old&b=2", "seg5.m4s?a=1&b=2&exp=1&sig=S"},
		{"seg5.m4s#t=1", "seg5.m4s?exp=1&sig=S#t=1"},
		{"seg5.m4s?a=1#t=1?x", "seg5.m4s?a=1&exp=1&sig=S#t=1?x"},
		{"?a=1", "?a=1&exp=1&sig=S"},
		{"?&", "?exp=1&sig=S"},
		{"seg5.m4s?a=1&&", "seg5.m4s?a=1&exp=1&sig=S"},
		{" seg5.m4s \t", " seg5.m4s?exp=1&sig=S \t"},
		{"\tseg5.m4s\r", "\tseg5.m4s?exp=1&sig=S\r"},
		{"1a:b", "1a:b?exp=1&sig=S"},
		{"./a:b", "./a:b?exp=1&sig=S"},
		// Left alone: other hosts, schemes, nothing.
		{"http://other.example/live/cam1/seg5.m4s", ""},
		{"HTTPS://other.example/x", ""},
		{"//other.example/seg5.m4s", ""},
		{"skd://key-id", ""},
		{"data:text/plain,abc", ""},
		{"urn:uuid:1234", ""},
		{"a:b", ""},
		{"", ""},
		{"  ", ""},
		{"/\\evil.example/x", ""},
		{"\\\\evil.example/x", ""},
		{"/\t/evil.example/x", ""},
		{"ht\ntps://evil.example/x", ""},
		{"\\seg.m4s", "\\seg.m4s?exp=1&sig=S"},
		{" //h/x ", ""},
	} {
		got, ok := tokenize(tc.in, tok)
		if tc.want == "" {
			if ok || got != tc.in {
				t.Errorf("tokenize(%q) = %q, %v; want it left alone", tc.in, got, ok)
			}
		} else if !ok || got != tc.want {
			t.Errorf("tokenize(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
		if ok {
			if again, _ := tokenize(got, tok); again != got {
				t.Errorf("tokenize is not idempotent: %q → %q", got, again)
			}
		}
	}
}

func TestCleanToken(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"exp=1&sig=abc-_", true},
		{"?exp=1&sig=abc", true},
		{"exp=1&sig=a%2Fb", true},
		{"", false},
		{"?", false},
		{"exp=1&sig=a\"b", false},
		{"exp=1&sig=a b", false},
		{"exp=1&sig=a\nb", false},
		{"exp=1&sig=a#b", false},
		{"exp=1&sig=a$b", false},
		{"exp=1&sig=a<b", false},
		{"exp=1&sig=a%2", false},
		{"exp=1&sig=a%zz", false},
	} {
		if _, ok := cleanToken(tc.in); ok != tc.want {
			t.Errorf("cleanToken(%q) = %v, want %v", tc.in, ok, tc.want)
		}
	}
}
