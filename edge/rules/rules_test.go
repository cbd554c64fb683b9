package rules

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct{ path, query, want string }{
		{"/live/s/v/seg1.m4s", "", "/live/s/v/seg1.m4s"},
		{"/live/s/v/seg1.m4s", "exp=1&sig=x&utm=y", "/live/s/v/seg1.m4s"},
		{"/live/s/v/index.m3u8", "_HLS_part=2&_HLS_msn=5&token=abc", "/live/s/v/index.m3u8?_HLS_msn=5&_HLS_part=2"},
		{"/live/s/v/index.m3u8", "_HLS_msn=5&_HLS_part=2", "/live/s/v/index.m3u8?_HLS_msn=5&_HLS_part=2"},
		{"/live/s/v/index.m3u8", "_HLS_skip=YES&_HLS_msn=5", "/live/s/v/index.m3u8?_HLS_msn=5&_HLS_skip=YES"},
		{"/live/s/v/seg1.m4s", "_HLS_msn=5", "/live/s/v/seg1.m4s"},
		{"/live/s/v/index.m3u8", "%zz", "/live/s/v/index.m3u8"},
		// Replay playlists and clips are chosen by their range; their media is not.
		{"/replay/s/index.m3u8", "to=20&from=10&token=x", "/replay/s/index.m3u8?from=10&to=20"},
		{"/replay/s/video/index.m3u8", "from=10", "/replay/s/video/index.m3u8?from=10"},
		{"/replay/s/manifest.mpd", "from=10&to=20", "/replay/s/manifest.mpd?from=10&to=20"},
		{"/replay/s/video/seg3.m4s", "from=10&to=20", "/replay/s/video/seg3.m4s"},
		{"/api/clip/s.mp4", "rendition=v&from=10&to=20&utm=1", "/api/clip/s.mp4?from=10&rendition=v&to=20"},
		{"/live/s/v/index.m3u8", "from=10", "/live/s/v/index.m3u8"},
	} {
		if got := Key(tc.path, tc.query, nil); got != tc.want {
			t.Errorf("Key(%q, %q) = %q, want %q", tc.path, tc.query, got, tc.want)
		}
	}
	if got := Key("/vod/a.m4s", "v=2&x=1", []string{"v"}); got != "/vod/a.m4s?v=2" {
		t.Errorf("configured parameter: %q", got)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"/live/s/../x", "/live/s/%2e%2e/x", "/live/s%2fv/x", "/live/%2E./x", "/live/s\\x", "/live//x",
		"/live/s/%00", "relative", "/" + strings.Repeat("a", MaxPath), "/live/s/./x", "/live/s/%zz"} {
		if CheckPath(p) == nil {
			t.Errorf("CheckPath(%q) accepted", p)
		}
	}
	for _, p := range []string{"/live/s/index.m3u8", "/live/s/v/part1.2.m4s", "/replay/s/index.m3u8", "/"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
}

func TestFreshness(t *testing.T) {
	p := DefaultPolicy()
	ll := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.2\n")
	plain := []byte("#EXTM3U\n#EXT-X-TARGETDURATION:6\n")
	h := func(cc string) http.Header { return http.Header{"Cache-Control": {cc}} }
	for _, tc := range []struct {
		name   string
		kind   Kind
		status int
		cc     string
		body   []byte
		ttl    time.Duration
		ok     bool
	}{
		{"immutable media", Media, 200, "public, max-age=31536000, immutable", nil, 0, true},
		{"media without headers", Media, 200, "", nil, 0, true},
		{"LL playlist", Playlist, 200, "", ll, 100 * time.Millisecond, true},
		{"plain playlist", Playlist, 200, "", plain, 3 * time.Second, true},
		{"upstream max-age wins", Playlist, 200, "public, max-age=1", ll, time.Second, true},
		{"s-maxage over max-age", Playlist, 200, "max-age=10, s-maxage=2", ll, 2 * time.Second, true},
		{"404 briefly", Media, 404, "", nil, 100 * time.Millisecond, true},
		{"5xx never", Playlist, 503, "max-age=60", ll, 0, false},
		{"no-store", Media, 200, "no-store", nil, 0, false},
		{"private", Playlist, 200, "private, max-age=5", ll, 0, false},
		{"max-age=0", Playlist, 200, "max-age=0", ll, 0, false},
		{"206 not cached", Media, 206, "", nil, 0, false},
	} {
		ttl, ok := p.Freshness(tc.kind, tc.status, h(tc.cc), tc.body)
		if ttl != tc.ttl || ok != tc.ok {
			t.Errorf("%s: ttl %v ok %v, want %v %v", tc.name, ttl, ok, tc.ttl, tc.ok)
		}
	}
}

func FuzzKey(f *testing.F) {
	f.Add("/live/s/v/index.m3u8", "_HLS_msn=1&_HLS_part=2&x=y")
	f.Add("/live/s/v/seg1.m4s", "a=b&a=c")
	f.Add("/replay/s/index.m3u8", "to=2&from=1&x=y")
	f.Add("/api/clip/s.mp4", "rendition=v&from=1&to=2")
	f.Fuzz(func(t *testing.T, p, q string) {
		if CheckPath(p) != nil {
			return
		}
		k := Key(p, q, nil)
		if !strings.HasPrefix(k, p) {
			t.Fatalf("key %q lost the path %q", k, p)
		}
		// The key is canonical: building it again from itself changes nothing.
		rest := ""
		if i := strings.IndexByte(k[len(p):], '?'); i >= 0 {
			rest = k[len(p)+i+1:]
		}
		if k2 := Key(p, rest, nil); k2 != k {
			t.Fatalf("key not canonical: %q → %q", k, k2)
		}
		// Only LL-HLS parameters of playlists, and the range of replay
		// playlists and clips, survive.
		if vals, err := url.ParseQuery(rest); err == nil {
			for name := range vals {
				if rangeKeyed(p) && (name == "from" || name == "to" || name == "rendition") {
					continue
				}
				if Classify(p) != Playlist || !strings.HasPrefix(name, "_HLS_") {
					t.Fatalf("key %q keeps %q", k, name)
				}
			}
		}
	})
}

func BenchmarkCheckPathAndKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if CheckPath("/live/stream/video/part1234.5.m4s") != nil {
			b.Fatal("refused")
		}
		_ = Key("/live/stream/video/part1234.5.m4s", "", nil)
	}
}

func FuzzCheckPath(f *testing.F) {
	f.Add("/live/s/v/seg1.m4s")
	f.Add("/live/%2e%2E/x")
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		u, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("accepted %q that does not unescape: %v", p, err)
		}
		for _, seg := range strings.Split(u, "/")[1:] {
			if seg == "." || seg == ".." || strings.ContainsAny(seg, "\\\x00") {
				t.Fatalf("accepted %q, which decodes to %q", p, u)
			}
		}
		if strings.Contains(u, "//") {
			t.Fatalf("accepted %q with an empty segment", p)
		}
	})
}
