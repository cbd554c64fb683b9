package token

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	testKey = []byte("0123456789abcdef-test-key")
	now     = time.Unix(1735689600, 0) // 2025-01-01T00:00:00Z
)

func signer(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(testKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sign(t testing.TB, s *Signer, path string, exp time.Time) string {
	t.Helper()
	q, err := s.Sign(path, exp)
	if err != nil {
		t.Fatalf("Sign(%q): %v", path, err)
	}
	return q
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	for _, key := range []string{"", "short", "fifteen-bytes!!"} {
		if _, err := NewSigner([]byte(key)); err == nil || !strings.Contains(err.Error(), "at least 16") {
			t.Errorf("NewSigner(%q) = %v, want an error naming the minimum", key, err)
		}
	}
	if _, err := NewSigner([]byte("sixteen-bytes!!!")); err != nil {
		t.Errorf("16-byte key refused: %v", err)
	}
}

// The signer keeps its own copy: changing the caller's slice changes nothing.
func TestNewSignerCopiesKey(t *testing.T) {
	key := append([]byte(nil), testKey...)
	s, _ := NewSigner(key)
	q := sign(t, s, "/live/a/index.m3u8", now.Add(time.Hour))
	key[0] ^= 0xff
	if err := s.Verify("/live/a/index.m3u8", q, now); err != nil {
		t.Errorf("after the caller changed its key slice: %v", err)
	}
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/live/cam1/index.m3u8", "/live/cam1/"},
		{"/live/cam1/manifest.mpd", "/live/cam1/"},
		{"/live/cam1/720p/part9.3.m4s", "/live/cam1/"},
		{"/live/cam1/", "/live/cam1/"},
		{"/replay/cam1/index.m3u8", "/replay/cam1/"},
		{"/replay/cam1/720p/seg5.m4s", "/replay/cam1/"},
		{"/live/cam1", ""},
		{"/live//index.m3u8", ""},
		{"/live/cam1//seg5.m4s", ""},
		{"/live/../secret/index.m3u8", ""},
		{"/live/cam1/../cam2/index.m3u8", ""},
		{"/live/cam1/./index.m3u8", ""},
		{"/live/cam1/%2e%2e/x", ""},
		{"/live/cam%31/index.m3u8", ""},
		{"/live/cam1/a\\b", ""},
		{"/live/cam1/a b", ""},
		{"/live/cam1/a?b", ""},
		{"/live/cam1/\x00", ""},
		{"/live/cam1/\xc3\xa9", ""},
		{"/LIVE/cam1/index.m3u8", ""},
		{"/metrics", ""},
		{"live/cam1/index.m3u8", ""},
		{"", ""},
		{"/live/" + strings.Repeat("a", MaxPathLen) + "/x", ""},
	} {
		got, err := Prefix(tc.path)
		if tc.want == "" {
			if !errors.Is(err, ErrBadPath) {
				t.Errorf("Prefix(%q) = %q, %v; want ErrBadPath", tc.path, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Prefix(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
}

func TestSignFormat(t *testing.T) {
	q := sign(t, signer(t), "/live/cam1/index.m3u8", now.Add(time.Hour))
	if !regexp.MustCompile(`^exp=1735693200&sig=[A-Za-z0-9_-]{43}$`).MatchString(q) {
		t.Errorf("token %q: want exp=<unix>&sig=<43 base64url characters>", q)
	}
	// The same prefix and expiry give the same token: it is a pure function.
	if q2 := sign(t, signer(t), "/live/cam1/720p/seg5.m4s", now.Add(time.Hour)); q2 != q {
		t.Errorf("tokens of one stream differ: %q vs %q", q, q2)
	}
	for _, exp := range []time.Time{time.Unix(0, 0), time.Unix(-5, 0), time.Unix(1e18, 0)} {
		if _, err := signer(t).Sign("/live/a/index.m3u8", exp); err == nil {
			t.Errorf("Sign with expiry %d: no error", exp.Unix())
		}
	}
	if _, err := signer(t).Sign("/vod/a/index.m3u8", now); !errors.Is(err, ErrBadPath) {
		t.Errorf("Sign outside /live/ and /replay/: %v", err)
	}
}

func TestVerify(t *testing.T) {
	s := signer(t)
	other, _ := NewSigner([]byte("another-key-of-16+bytes"))
	live := sign(t, s, "/live/cam1/index.m3u8", now.Add(time.Hour))
	exp, sig, _ := strings.Cut(live, "&")
	expired := sign(t, s, "/live/cam1/index.m3u8", now.Add(-time.Second))
	replay := sign(t, s, "/replay/cam1/index.m3u8", now.Add(time.Hour))
	foreign := sign(t, other, "/live/cam1/index.m3u8", now.Add(time.Hour))
	for _, tc := range []struct {
		name, path, query string
		at                time.Time
		want              error
	}{
		{"multivariant", "/live/cam1/index.m3u8", live, now, nil},
		{"segment of the stream", "/live/cam1/720p/seg5.m4s", live, now, nil},
		{"part of the stream", "/live/cam1/audio/part9.3.m4s", live, now, nil},
		{"mpd", "/live/cam1/manifest.mpd", live, now, nil},
		{"other params kept", "/live/cam1/720p/index.m3u8", "_HLS_msn=9&" + live + "&_HLS_part=3", now, nil},
		{"params reordered", "/live/cam1/index.m3u8", sig + "&" + exp, now, nil},
		{"percent-encoded names", "/live/cam1/index.m3u8", "e%78p" + exp[3:] + "&%73ig" + sig[3:], now, nil},
		{"replay token on replay", "/replay/cam1/index.m3u8", replay + "&from=1735680000", now, nil},
		{"last valid second", "/live/cam1/index.m3u8", live, now.Add(time.Hour - time.Nanosecond), nil},
		{"at expiry", "/live/cam1/index.m3u8", live, now.Add(time.Hour), ErrExpired},
		{"expired", "/live/cam1/index.m3u8", expired, now, ErrExpired},
		{"no query", "/live/cam1/index.m3u8", "", now, ErrMissing},
		{"unrelated query", "/live/cam1/index.m3u8", "_HLS_msn=5", now, ErrMissing},
		{"upper-case names are not ours", "/live/cam1/index.m3u8", strings.ToUpper(live[:3]) + live[3:], now, ErrForged},
		{"exp only", "/live/cam1/index.m3u8", exp, now, ErrForged},
		{"sig only", "/live/cam1/index.m3u8", sig, now, ErrForged},
		{"exp twice", "/live/cam1/index.m3u8", live + "&" + exp, now, ErrForged},
		{"sig twice", "/live/cam1/index.m3u8", live + "&" + sig, now, ErrForged},
		{"later exp", "/live/cam1/index.m3u8", "exp=1735696800&" + sig, now, ErrForged},
		{"exp with leading zero", "/live/cam1/index.m3u8", "exp=0" + exp[4:] + "&" + sig, now, ErrForged},
		{"exp with sign", "/live/cam1/index.m3u8", "exp=%2B" + exp[4:] + "&" + sig, now, ErrForged},
		{"exp not a number", "/live/cam1/index.m3u8", "exp=soon&" + sig, now, ErrForged},
		{"sig padded", "/live/cam1/index.m3u8", live + "%3D", now, ErrForged},
		{"sig truncated", "/live/cam1/index.m3u8", live[:len(live)-1], now, ErrForged},
		{"sig std alphabet", "/live/cam1/index.m3u8", exp + "&sig=" + strings.NewReplacer("-", "+", "_", "/").Replace(sig[4:]) + "x", now, ErrForged},
		{"bad escape", "/live/cam1/index.m3u8", live + "%zz", now, ErrForged},
		{"other key", "/live/cam1/index.m3u8", foreign, now, ErrForged},
		{"other stream", "/live/cam2/index.m3u8", live, now, ErrForged},
		{"stream name prefix", "/live/cam10/index.m3u8", live, now, ErrForged},
		{"live token on replay", "/replay/cam1/index.m3u8", live, now, ErrForged},
		{"replay token on live", "/live/cam1/index.m3u8", replay, now, ErrForged},
		{"forged and expired is forged", "/live/cam1/index.m3u8", "exp=1000&" + sig, now, ErrForged},
		{"dot-dot into another stream", "/live/cam1/../cam2/index.m3u8", live, now, ErrBadPath},
		{"escaped dot-dot", "/live/cam1/%2e%2e/cam2/index.m3u8", live, now, ErrBadPath},
		{"outside any prefix", "/metrics", live, now, ErrBadPath},
		{"stream directory itself", "/live/cam1", live, now, ErrBadPath},
	} {
		err := s.Verify(tc.path, tc.query, tc.at)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify(%q, %q) = %v, want %v", tc.name, tc.path, tc.query, err, tc.want)
		}
	}
}

// The sentinels are distinct, so that logs and metrics can tell them apart.
func TestErrorsDistinct(t *testing.T) {
	errs := []error{ErrMissing, ErrExpired, ErrForged, ErrBadPath}
	for i, a := range errs {
		for j, b := range errs {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v is %v", a, b)
			}
		}
	}
}

func TestSignURL(t *testing.T) {
	s := signer(t)
	tok := sign(t, s, "/live/cam1/index.m3u8", now.Add(time.Hour))
	for _, tc := range []struct{ in, want string }{
		{"/live/cam1/index.m3u8", "/live/cam1/index.m3u8?" + tok},
		{"http://edge:8081/live/cam1/index.m3u8", "http://edge:8081/live/cam1/index.m3u8?" + tok},
		{"https://cdn.example/live/cam1/manifest.mpd#t=10", "https://cdn.example/live/cam1/manifest.mpd?" + tok + "#t=10"},
		{"/live/cam1/index.m3u8?a=1&exp=5&sig=old&b=2", "/live/cam1/index.m3u8?a=1&b=2&" + tok},
		{"/live/cam1/index.m3u8?", "/live/cam1/index.m3u8?" + tok},
	} {
		got, err := s.SignURL(tc.in, time.Hour, now)
		if err != nil || got != tc.want {
			t.Errorf("SignURL(%q) = %q, %v\nwant %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"/live/cam1/../x", "/live/cam 1/index.m3u8", "/other/x", "mailto:a@b", "http://edge", "live/cam1/x", "%zz"} {
		if got, err := s.SignURL(in, time.Hour, now); err == nil {
			t.Errorf("SignURL(%q) = %q, want an error", in, got)
		}
	}
	if _, err := s.SignURL("/live/cam1/index.m3u8", 0, now); err == nil {
		t.Error("SignURL with ttl 0: no error")
	}
}

func BenchmarkVerify(b *testing.B) {
	s := signer(b)
	q := "_HLS_msn=9&_HLS_part=3&" + sign(b, s, "/live/cam1/index.m3u8", now.Add(time.Hour))
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Verify("/live/cam1/720p/index.m3u8", q, now); err != nil {
			b.Fatal(err)
		}
	}
}
