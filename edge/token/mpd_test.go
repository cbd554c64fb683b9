package token

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
)

const tkXML = "exp=1&amp;sig=S" // tk as it must appear in XML

func TestRewriteMPD(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"number template",
			`<MPD><SegmentTemplate media="720p/seg$Number$.m4s" initialization="720p/init1.mp4" startNumber="5"/></MPD>`,
			`<MPD><SegmentTemplate media="720p/seg$Number$.m4s?` + tkXML + `" initialization="720p/init1.mp4?` + tkXML + `" startNumber="5"/></MPD>`},
		{"existing query with entity",
			`<MPD><SegmentTemplate media="s$Number%05d$.m4s?a=1&amp;b=2"></SegmentTemplate></MPD>`,
			`<MPD><SegmentTemplate media="s$Number%05d$.m4s?a=1&amp;b=2&amp;` + tkXML + `"></SegmentTemplate></MPD>`},
		{"old token replaced",
			`<MPD><SegmentURL media="s.m4s?exp=9&amp;sig=old"/></MPD>`,
			`<MPD><SegmentURL media="s.m4s?` + tkXML + `"/></MPD>`},
		{"single quotes",
			`<MPD><SegmentTemplate media='s.m4s?q=&apos;a&apos;'/></MPD>`,
			`<MPD><SegmentTemplate media='s.m4s?q=&apos;a&apos;&amp;` + tkXML + `'/></MPD>`},
		{"other host untouched",
			`<MPD><SegmentTemplate media="https://o.example/s.m4s" initialization="//o.example/i.mp4"/></MPD>`,
			`<MPD><SegmentTemplate media="https://o.example/s.m4s" initialization="//o.example/i.mp4"/></MPD>`},
		{"other attributes and elements untouched",
			`<MPD><Representation id="a" media="x"><SegmentTemplate timescale="1" xlink:media="m" data-media="m"/></Representation></MPD>`,
			`<MPD><Representation id="a" media="x"><SegmentTemplate timescale="1" xlink:media="m" data-media="m"/></Representation></MPD>`},
		{"namespace prefix",
			`<d:MPD xmlns:d="urn:mpeg:dash:schema:mpd:2011"><d:SegmentTemplate media="s.m4s"/></d:MPD>`,
			`<d:MPD xmlns:d="urn:mpeg:dash:schema:mpd:2011"><d:SegmentTemplate media="s.m4s?` + tkXML + `"/></d:MPD>`},
		{"attribute layout kept",
			"<MPD><SegmentURL\n  media = \"s.m4s\"\tindex='i.sidx'/></MPD>",
			"<MPD><SegmentURL\n  media = \"s.m4s?" + tkXML + "\"\tindex='i.sidx?" + tkXML + "'/></MPD>"},
		{"list initialization",
			`<MPD><SegmentList><Initialization sourceURL="init.mp4"/><RepresentationIndex sourceURL="/live/c/i.sidx"/></SegmentList></MPD>`,
			`<MPD><SegmentList><Initialization sourceURL="init.mp4?` + tkXML + `"/><RepresentationIndex sourceURL="/live/c/i.sidx?` + tkXML + `"/></SegmentList></MPD>`},
		{"BaseURL of a file, white space kept",
			"<MPD><BaseURL>\n  video.mp4\n</BaseURL></MPD>",
			"<MPD><BaseURL>\n  video.mp4?" + tkXML + "\n</BaseURL></MPD>"},
		{"BaseURL directory untouched",
			`<MPD><BaseURL>video/</BaseURL><BaseURL>/live/cam1/</BaseURL></MPD>`,
			`<MPD><BaseURL>video/</BaseURL><BaseURL>/live/cam1/</BaseURL></MPD>`},
		{"BaseURL elsewhere untouched",
			`<MPD><BaseURL>https://cdn2.example/v.mp4</BaseURL></MPD>`,
			`<MPD><BaseURL>https://cdn2.example/v.mp4</BaseURL></MPD>`},
		{"BaseURL CDATA and comments untouched",
			`<MPD><BaseURL><![CDATA[v.mp4]]></BaseURL><BaseURL>v<!-- c -->.mp4</BaseURL></MPD>`,
			`<MPD><BaseURL><![CDATA[v.mp4]]></BaseURL><BaseURL>v<!-- c -->.mp4</BaseURL></MPD>`},
		{"Location with entity",
			`<MPD><Location>manifest.mpd?a=1&amp;b=2</Location></MPD>`,
			`<MPD><Location>manifest.mpd?a=1&amp;b=2&amp;` + tkXML + `</Location></MPD>`},
		{"character references written back escaped",
			`<MPD><SegmentTemplate media="s&#36;Number&#36;&#13;.m4s"/></MPD>`,
			`<MPD><SegmentTemplate media="s$Number$&#xD;.m4s?` + tkXML + `"/></MPD>`},
		{"malformed: rewritten up to the error",
			`<MPD><SegmentTemplate media="a.m4s"/><SegmentTemplate media="b.m4s"></MPD>`,
			`<MPD><SegmentTemplate media="a.m4s?` + tkXML + `"/><SegmentTemplate media="b.m4s?` + tkXML + `"></MPD>`},
		{"malformed: nothing after the error",
			`<MPD><SegmentTemplate media="a.m4s"/><bad attr=x/><SegmentTemplate media="b.m4s"/></MPD>`,
			`<MPD><SegmentTemplate media="a.m4s?` + tkXML + `"/><bad attr=x/><SegmentTemplate media="b.m4s"/></MPD>`},
		{"other encoding untouched",
			`<?xml version="1.0" encoding="ISO-8859-1"?><MPD><SegmentTemplate media="a.m4s"/></MPD>`,
			`<?xml version="1.0" encoding="ISO-8859-1"?><MPD><SegmentTemplate media="a.m4s"/></MPD>`},
		{"not XML", "#EXTM3U\nseg.m4s\n", "#EXTM3U\nseg.m4s\n"},
	} {
		if got := string(RewriteMPD([]byte(tc.in), tk)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestRewriteMPDRefusesUnsafeTokens(t *testing.T) {
	in := []byte(`<MPD><SegmentTemplate media="s$Number$.m4s"/></MPD>`)
	for _, tok := range []string{"", "exp=1&sig=$", "exp=1&sig=\"", "exp=1&sig=<", "exp=1&sig='"} {
		if got := RewriteMPD(in, tok); !bytes.Equal(got, in) {
			t.Errorf("token %q: MPD changed to %s", tok, got)
		}
	}
}

// The origin's own MPD: dash-mpd reads the rewrite, every template expands
// to URLs whose tokens Verify accepts, and only those attributes changed.
func TestRewriteMPDOriginManifest(t *testing.T) {
	s := signer(t)
	in, err := os.ReadFile("testdata/manifest.mpd")
	if err != nil {
		t.Fatal(err)
	}
	const path = "/live/cam1/manifest.mpd"
	tok := sign(t, s, path, now.Add(time.Minute))
	out := RewriteMPD(in, tok)
	escaped := strings.ReplaceAll(tok, "&", "&amp;")
	if got := strings.ReplaceAll(string(out), "?"+escaped, ""); got != string(in) {
		t.Errorf("more than the URL attributes changed:\n%s", out)
	}
	m, err := mpd.ReadFromString(string(out))
	if err != nil {
		t.Fatalf("dash-mpd: %v", err)
	}
	base, _ := url.Parse("http://edge:8081" + path)
	var checked int
	for _, p := range m.Periods {
		for _, as := range p.AdaptationSets {
			for _, rep := range as.Representations {
				st := rep.SegmentTemplate
				if st == nil || st.StartNumber == nil {
					t.Fatalf("representation %s has no template", rep.Id)
				}
				if i, j := strings.Index(st.Media, "$Number$"), strings.Index(st.Media, "?"); i < 0 || j < i {
					t.Errorf("media %q: the query must follow the template", st.Media)
				}
				media := strings.ReplaceAll(st.Media, "$Number$", strconv.Itoa(int(*st.StartNumber)))
				for _, ref := range []string{media, st.Initialization} {
					u, err := base.Parse(ref)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(u.Path, "/live/cam1/"+rep.Id+"/") {
						t.Errorf("%q resolves to %s", ref, u.Path)
					}
					if err := s.Verify(u.Path, u.RawQuery, now); err != nil {
						t.Errorf("%q: %v", ref, err)
					}
					checked++
				}
			}
		}
	}
	if checked != 6 {
		t.Errorf("checked %d URLs, want 6 (3 representations × media and init)", checked)
	}
	if again := RewriteMPD(out, tok); !bytes.Equal(again, out) {
		t.Error("rewriting a rewritten MPD changed it")
	}
}

func TestRewriteMPDThirdParty(t *testing.T) {
	in, err := os.ReadFile("testdata/thirdparty_segmentlist.mpd")
	if err != nil {
		t.Fatal(err)
	}
	out := string(RewriteMPD(in, tk))
	for _, want := range []string{
		`<Location>manifest.mpd?session=42&amp;lang=en&amp;` + tkXML + `</Location>`,
		`<BaseURL serviceLocation="edge">https://cdn.example.net/live/cam1/</BaseURL>`,
		`<BaseURL serviceLocation="here">/live/cam1/</BaseURL>`,
		`media='$RepresentationID$/seg-$Number%05d$.m4s?v=2&amp;x=&apos;y&apos;&amp;` + tkXML + `'`,
		`initialization="$RepresentationID$/init.mp4?` + tkXML + `"`,
		`media="https://other.example.net/360p/$Time$.m4s" initialization="//other.example.net/360p/init.mp4"`,
		`<BaseURL>audio/</BaseURL>`,
		`<Initialization sourceURL="init.mp4?` + tkXML + `"/>`,
		`<RepresentationIndex sourceURL="index.sidx?` + tkXML + `"/>`,
		`<SegmentURL media="seg1.m4s?` + tkXML + `" mediaRange="0-999"/>`,
		`<SegmentURL media="seg2.m4s?` + tkXML + `"/>`,
		"media = \"seg3.m4s?" + tkXML + "\"\n              index=\"seg3.sidx?" + tkXML + "\"/>",
		`<BaseURL> subs/en.vtt?` + tkXML + ` </BaseURL>`,
		`<BaseURL><![CDATA[trailer.mp4]]></BaseURL>`,
		`<Initialization range="0-799"/>`,
		`value="/time"/>`,
		`cenc:default_KID="10000000-1000-1000-1000-100000000001"/>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s", want)
		}
	}
	if _, err := mpd.ReadFromString(out); err != nil {
		t.Errorf("dash-mpd: %v", err)
	}
	a, errA := xmlTokens(in)
	b, errB := xmlTokens([]byte(out))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if err := compareMPD(a, b, tk); err != nil {
		t.Error(err)
	}
}

// xmlTokens decodes a whole document, or fails.
func xmlTokens(b []byte) ([]xml.Token, error) {
	d := xml.NewDecoder(bytes.NewReader(b))
	var out []xml.Token
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, xml.CopyToken(t))
	}
}

// compareMPD checks that b is a with the token added to the URL attributes
// and, possibly, to the text of URL elements; nothing else differs.
func compareMPD(a, b []xml.Token, tok string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d XML tokens became %d", len(a), len(b))
	}
	var stack []string
	for i := range a {
		switch x := a[i].(type) {
		case xml.StartElement:
			y, ok := b[i].(xml.StartElement)
			if !ok || x.Name != y.Name || len(x.Attr) != len(y.Attr) {
				return fmt.Errorf("element %v became %v", x, b[i])
			}
			stack = append(stack, x.Name.Local)
			for j, at := range x.Attr {
				bt := y.Attr[j]
				if at.Name != bt.Name {
					return fmt.Errorf("attribute %v became %v", at.Name, bt.Name)
				}
				if at.Name.Space == "" && slices.Contains(mpdAttrs[x.Name.Local], at.Name.Local) {
					if err := checkTokenized(at.Value, bt.Value, tok); err != nil {
						return fmt.Errorf("%s@%s: %w", x.Name.Local, at.Name.Local, err)
					}
				} else if at.Value != bt.Value {
					return fmt.Errorf("%s@%s %q became %q", x.Name.Local, at.Name.Local, at.Value, bt.Value)
				}
			}
		case xml.EndElement:
			if y, ok := b[i].(xml.EndElement); !ok || x.Name != y.Name {
				return fmt.Errorf("end of %v became %v", x.Name, b[i])
			}
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		case xml.CharData:
			y, ok := b[i].(xml.CharData)
			if !ok {
				return fmt.Errorf("text became %v", b[i])
			}
			if bytes.Equal(x, y) {
				continue
			}
			if len(stack) == 0 || !mpdTexts[stack[len(stack)-1]] {
				return fmt.Errorf("text %q became %q", x, y)
			}
			if err := checkTokenized(string(x), string(y), tok); err != nil {
				return fmt.Errorf("%s text: %w", stack[len(stack)-1], err)
			}
		default:
			if fmt.Sprint(x) != fmt.Sprint(b[i]) {
				return fmt.Errorf("%v became %v", x, b[i])
			}
		}
	}
	return nil
}

func BenchmarkRewriteMPD(b *testing.B) {
	in, err := os.ReadFile("testdata/manifest.mpd")
	if err != nil {
		b.Fatal(err)
	}
	tok := sign(b, signer(b), "/live/cam1/manifest.mpd", now.Add(time.Hour))
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		RewriteMPD(in, tok)
	}
}
