package token

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

const tk = "exp=1&sig=S" // a token for tests that only look at bytes

func TestRewriteHLS(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"segment line", "#EXTINF:2.0,\nseg5.m4s\n", "#EXTINF:2.0,\nseg5.m4s?" + tk + "\n"},
		{"variant line", "#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo/index.m3u8\n", "#EXT-X-STREAM-INF:BANDWIDTH=1\nvideo/index.m3u8?" + tk + "\n"},
		{"existing query", "seg5.m4s?a=1\n", "seg5.m4s?a=1&" + tk + "\n"},
		{"old token replaced", "seg5.m4s?exp=9&sig=old&a=1\n", "seg5.m4s?a=1&" + tk + "\n"},
		{"absolute path", "/live/cam1/720p/seg5.m4s\n", "/live/cam1/720p/seg5.m4s?" + tk + "\n"},
		{"other host", "https://cdn2.example/seg5.m4s\n//cdn3.example/seg5.m4s\n", "https://cdn2.example/seg5.m4s\n//cdn3.example/seg5.m4s\n"},
		{"fragment", "seg5.m4s#t=1\n", "seg5.m4s?" + tk + "#t=1\n"},
		{"map", `#EXT-X-MAP:URI="init1.mp4"` + "\n", `#EXT-X-MAP:URI="init1.mp4?` + tk + `"` + "\n"},
		{"map with byterange", `#EXT-X-MAP:URI="main.mp4",BYTERANGE="720@0"`, `#EXT-X-MAP:URI="main.mp4?` + tk + `",BYTERANGE="720@0"`},
		{"part", `#EXT-X-PART:DURATION=0.20000,URI="part5.1.m4s",INDEPENDENT=YES`, `#EXT-X-PART:DURATION=0.20000,URI="part5.1.m4s?` + tk + `",INDEPENDENT=YES`},
		{"preload hint", `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part5.2.m4s"`, `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part5.2.m4s?` + tk + `"`},
		{"rendition report", `#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=5,LAST-PART=1`,
			`#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8?` + tk + `",LAST-MSN=5,LAST-PART=1`},
		{"media", `#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",URI="audio/index.m3u8"`,
			`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="audio",URI="audio/index.m3u8?` + tk + `"`},
		{"key elsewhere", `#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k1",KEYFORMAT="com.apple.streamingkeydelivery"`,
			`#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://k1",KEYFORMAT="com.apple.streamingkeydelivery"`},
		{"key here", `#EXT-X-KEY:METHOD=AES-128,URI="key.bin",IV=0x1`, `#EXT-X-KEY:METHOD=AES-128,URI="key.bin?` + tk + `",IV=0x1`},
		{"URI= inside another value", `#EXT-X-MEDIA:NAME="a,URI=x",URI="b.m3u8"`, `#EXT-X-MEDIA:NAME="a,URI=x",URI="b.m3u8?` + tk + `"`},
		{"other URL attributes untouched", `#EXT-X-DATERANGE:ID="ad",X-ASSET-URI="ad.m3u8",START-DATE="2025-01-01T00:00:00Z"`,
			`#EXT-X-DATERANGE:ID="ad",X-ASSET-URI="ad.m3u8",START-DATE="2025-01-01T00:00:00Z"`},
		{"empty URI", `#EXT-X-MAP:URI=""`, `#EXT-X-MAP:URI=""`},
		{"unterminated quote", `#EXT-X-MAP:URI="init.mp4`, `#EXT-X-MAP:URI="init.mp4`},
		{"spaces before names", `#EXT-X-PART:DURATION=0.2, URI="p.m4s"`, `#EXT-X-PART:DURATION=0.2, URI="p.m4s?` + tk + `"`},
		{"extinf title", `#EXTINF:2.0,URI="x"` + "\nseg.m4s", `#EXTINF:2.0,URI="x"` + "\nseg.m4s?" + tk},
		{"comment", "# URI=\"x\" seg.m4s\n#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:00Z\n", "# URI=\"x\" seg.m4s\n#EXT-X-PROGRAM-DATE-TIME:2025-01-01T00:00:00Z\n"},
		{"CRLF", "#EXTM3U\r\n#EXT-X-MAP:URI=\"i.mp4\"\r\nseg5.m4s\r\n", "#EXTM3U\r\n#EXT-X-MAP:URI=\"i.mp4?" + tk + "\"\r\nseg5.m4s?" + tk + "\r\n"},
		{"blank lines and spaces", "\n \t\nseg5.m4s \n\n", "\n \t\nseg5.m4s?" + tk + " \n\n"},
		{"no final newline", "seg5.m4s", "seg5.m4s?" + tk},
		{"byte order mark", "\xef\xbb\xbf#EXTM3U\nseg.m4s\n", "\xef\xbb\xbf#EXTM3U\nseg.m4s?" + tk + "\n"},
		{"empty", "", ""},
	} {
		if got := string(RewriteHLS([]byte(tc.in), tk)); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestRewriteHLSRefusesUnsafeTokens(t *testing.T) {
	in := []byte("#EXTM3U\n#EXT-X-MAP:URI=\"i.mp4\"\nseg.m4s\n")
	for _, tok := range []string{"", "exp=1&sig=\"", "exp=1\nseg.m4s", "exp=1&sig=a b", "exp=1&sig=$Number$"} {
		if got := RewriteHLS(in, tok); !bytes.Equal(got, in) {
			t.Errorf("token %q: playlist changed to %q", tok, got)
		}
	}
	if got := string(RewriteHLS([]byte("seg.m4s"), "?"+tk)); got != "seg.m4s?"+tk {
		t.Errorf("a leading ? is not dropped: %q", got)
	}
}

// fixture is a playlist as served at a path of the edge.
type fixture struct{ file, path string }

var hlsFixtures = []fixture{
	{"llhls_media.m3u8", "/live/cam1/720p/index.m3u8"},
	{"multivariant.m3u8", "/live/cam1/index.m3u8"},
	{"thirdparty_multivariant_crlf.m3u8", "/live/cam1/index.m3u8"},
	{"replay_media.m3u8", "/replay/cam1/720p/index.m3u8"},
}

// Real playlists: gohlslib reads the rewritten one, every URI it finds that
// the edge serves carries a token that Verify accepts for that URI's path,
// and nothing else of the playlist changed.
func TestRewriteHLSFixtures(t *testing.T) {
	s := signer(t)
	for _, fx := range hlsFixtures {
		t.Run(fx.file, func(t *testing.T) {
			in, err := os.ReadFile("testdata/" + fx.file)
			if err != nil {
				t.Fatal(err)
			}
			tok := sign(t, s, fx.path, now.Add(time.Minute))
			out := RewriteHLS(in, tok)
			if err := checkHLSLines(in, out, tok); err != nil {
				t.Fatal(err)
			}
			before, after := parseHLS(t, in), parseHLS(t, out)
			inURIs, outURIs := hlsURIs(before), hlsURIs(after)
			if len(inURIs) != len(outURIs) || len(inURIs) < 3 {
				t.Fatalf("URIs: %d before, %d after", len(inURIs), len(outURIs))
			}
			base, _ := url.Parse("http://edge:8081" + fx.path)
			signed := 0
			for i, uri := range outURIs {
				if err := checkTokenized(inURIs[i], uri, tok); err != nil {
					t.Error(err)
				}
				if !local(uri) {
					continue
				}
				signed++
				u, err := base.Parse(uri)
				if err != nil {
					t.Fatalf("%q: %v", uri, err)
				}
				if err := s.Verify(u.Path, u.RawQuery, now); err != nil {
					t.Errorf("%q → %s?%s: %v", uri, u.Path, u.RawQuery, err)
				}
				other := strings.Replace(u.Path, "/cam1/", "/cam2/", 1)
				if err := s.Verify(other, u.RawQuery, now); err == nil {
					t.Errorf("the token of %q opens %s", uri, other)
				}
				if err := s.Verify(u.Path, u.RawQuery, now.Add(time.Minute)); err == nil {
					t.Errorf("%q: token still valid after expiry", uri)
				}
			}
			t.Logf("%d URIs, %d tokenized", len(outURIs), signed)
			if again := RewriteHLS(out, tok); !bytes.Equal(again, out) {
				t.Error("rewriting a rewritten playlist changed it")
			}
			// A viewer with a newer token gets exactly what a fresh rewrite gives.
			tok2 := sign(t, s, fx.path, now.Add(time.Hour))
			if a, b := RewriteHLS(out, tok2), RewriteHLS(in, tok2); !bytes.Equal(a, b) {
				t.Error("a second token does not replace the first")
			}
		})
	}
}

// The multivariant fixture in detail: which URIs got the token.
func TestRewriteHLSThirdPartyMultivariant(t *testing.T) {
	in, _ := os.ReadFile("testdata/thirdparty_multivariant_crlf.m3u8")
	out := string(RewriteHLS(in, tk))
	for _, want := range []string{
		`URI="meta/title.json?` + tk + `"`,
		`URI="skd://key-42"`,
		`URI="audio/en/index.m3u8?lang=en&` + tk + `"`,
		`NAME="Deutsch, URI='nope'"`,
		`URI="/live/cam1/audio/de/index.m3u8?` + tk + `"`,
		`URI="https://subs.example.net/cam1/en.m3u8"`,
		"\r\n1080p/index.m3u8?" + tk + "\r\n",
		"\r\n720p/index.m3u8?variant=hd&_HLS_msn=1&" + tk + "\r\n",
		"\r\nhttps://backup.example.net/live/cam1/360p/index.m3u8\r\n",
		"\r\n//mirror.example.net/live/cam1/234p/index.m3u8\r\n",
		`URI="1080p/iframes.m3u8?` + tk + `"`,
		"## packaged by a third-party origin; comments stay as they are, even with URI=\"x\"\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q", want)
		}
	}
	if n, m := strings.Count(string(in), "\r\n"), strings.Count(out, "\r\n"); n != m || strings.Count(out, "\n") != n {
		t.Errorf("line endings: %d CRLF before, %d after", n, m)
	}
}

func parseHLS(t testing.TB, b []byte) playlist.Playlist {
	t.Helper()
	p, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("gohlslib: %v\n%s", err, b)
	}
	return p
}

// hlsURIs lists every URI gohlslib finds in a playlist, in a fixed order.
func hlsURIs(p playlist.Playlist) []string {
	var out []string
	switch p := p.(type) {
	case *playlist.Media:
		if p.Map != nil {
			out = append(out, p.Map.URI)
		}
		for _, s := range p.Segments {
			for _, part := range s.Parts {
				out = append(out, part.URI)
			}
			out = append(out, s.URI)
		}
		for _, part := range p.Parts {
			out = append(out, part.URI)
		}
		if p.PreloadHint != nil {
			out = append(out, p.PreloadHint.URI)
		}
		for _, r := range p.RenditionReport {
			out = append(out, r.URI)
		}
	case *playlist.Multivariant:
		for _, r := range p.Renditions {
			if r.URI != nil {
				out = append(out, *r.URI)
			}
		}
		for _, v := range p.Variants {
			out = append(out, v.URI)
		}
	}
	for i := range out {
		out[i] = strings.Trim(out[i], " \t")
	}
	return out
}

var schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)

// checkTokenized is the test's own statement of the rewrite rule: a URI
// with a scheme, starting with "//" or empty is unchanged; any other keeps
// its path, fragment and other query parameters and ends its query with
// tok. Space and control bytes around it are kept and do not count.
func checkTokenized(in, out, tok string) error {
	ctl := func(r rune) bool { return r <= ' ' }
	core := strings.TrimFunc(in, ctl)
	if browser := strings.NewReplacer("\t", "", "\n", "", "\r", "", "\\", "/").Replace(core); browser == "" ||
		strings.HasPrefix(browser, "//") || schemeRE.MatchString(browser) {
		if out != in {
			return fmt.Errorf("%q (another host's) became %q", in, out)
		}
		return nil
	}
	lead, trail := in[:strings.Index(in, core)], in[strings.Index(in, core)+len(core):]
	if !strings.HasPrefix(out, lead) || !strings.HasSuffix(out, trail) || len(out) < len(lead)+len(trail) {
		return fmt.Errorf("%q became %q: the space around it changed", in, out)
	}
	in, out = core, out[len(lead):len(out)-len(trail)]
	split := func(u string) (path, query, frag string) {
		u, frag, _ = strings.Cut(u, "#")
		path, query, _ = strings.Cut(u, "?")
		return path, query, frag
	}
	ip, iq, ifr := split(in)
	op, oq, ofr := split(out)
	others := func(q string) string {
		var kept []string
		for _, p := range strings.Split(StripQuery(q), "&") {
			if p != "" {
				kept = append(kept, p)
			}
		}
		return strings.Join(kept, "&")
	}
	if ip != op || ifr != ofr || others(iq) != others(oq) || !strings.HasSuffix(oq, tok) {
		return fmt.Errorf("%q became %q, want it with the token %q", in, out, tok)
	}
	if t := findToken(oq); t.nExp != 1 || t.nSig != 1 {
		return fmt.Errorf("%q became %q: %d exp, %d sig", in, out, t.nExp, t.nSig)
	}
	return nil
}

func BenchmarkRewriteHLS(b *testing.B) {
	in, err := os.ReadFile("testdata/llhls_media.m3u8")
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, signer(b), "/live/cam1/720p/index.m3u8", now.Add(time.Hour))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		RewriteHLS(in, tok)
	}
}
