package origin

import (
	"net/url"
	"strings"
	"testing"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/live"
)

func FuzzParseLivePath(f *testing.F) {
	for _, s := range []string{"/live/s/index.m3u8", "/live/s/video/part3.1.m4s", "/live/s/../x", "/live/s%2f/x",
		"/live/a/b/c/d", "/live//index.m3u8", "/live/s/video/init1.mp4", "/live/s/manifest.mpd"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		rt, err := parseLivePath(p)
		if err != nil {
			return
		}
		// Whatever is accepted is a clean, canonical path with valid names.
		if strings.Contains(p, "..") || strings.Contains(p, "//") || strings.Contains(p, "%") {
			t.Fatalf("accepted %q", p)
		}
		if !ingest.ValidName(rt.stream) || (rt.rendition != "" && !ingest.ValidName(rt.rendition)) {
			t.Fatalf("accepted bad names in %q: %+v", p, rt)
		}
		want := "/live/" + rt.stream + "/"
		if rt.rendition != "" {
			want += rt.rendition + "/"
			if _, ok := live.ParseObject(rt.file); !ok {
				t.Fatalf("accepted object %q", rt.file)
			}
		}
		if want+rt.file != p {
			t.Fatalf("%q parsed to %+v, which spells %q", p, rt, want+rt.file)
		}
	})
}

func FuzzParseBlocking(f *testing.F) {
	for _, s := range []string{"_HLS_msn=3&_HLS_part=1", "_HLS_skip=YES", "_HLS_part=1", "_HLS_msn=01", "_HLS_msn=3&_HLS_msn=4", "x=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		b, err := parseBlocking(q)
		if err != nil {
			return
		}
		if b.part >= 0 && b.msn < 0 {
			t.Fatalf("%q: part without msn accepted", raw)
		}
		if b.msn < -1 || b.part < -1 {
			t.Fatalf("%q: negative numbers %+v", raw, b)
		}
	})
}
