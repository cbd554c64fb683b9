package token

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist/primitives"
)

// FuzzVerify: Verify never panics, accepts nothing it did not sign, and
// every token Sign makes verifies for every path below its prefix.
func FuzzVerify(f *testing.F) {
	s := signer(f)
	good := sign(f, s, "/live/cam1/index.m3u8", now.Add(time.Hour))
	for _, seed := range []struct {
		path, query string
		exp         int64
	}{
		{"/live/cam1/index.m3u8", good, 3600},
		{"/live/cam1/720p/part9.3.m4s", "_HLS_msn=9&" + good, 60},
		{"/replay/cam1/index.m3u8", "from=1735680000&to=1735689600", 1},
		{"/live/cam1/../cam2/index.m3u8", good, -1},
		{"/live/cam2/index.m3u8", "exp=99999999999&sig=" + strings.Repeat("A", 43), 1 << 40},
		{"/live/x/", "e%78p=1&sig=%zz", 0},
	} {
		f.Add(seed.path, seed.query, seed.exp)
	}
	f.Fuzz(func(t *testing.T, path, query string, ttl int64) {
		err := s.Verify(path, query, now)
		if err == nil && !strings.HasSuffix(Query(query), good[len("exp=1735693200&"):]) {
			// The only signature this test's key made is good's.
			t.Fatalf("Verify(%q, %q) accepted a token it did not sign", path, query)
		}
		if err != nil && !errors.Is(err, ErrMissing) && !errors.Is(err, ErrExpired) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrBadPath) {
			t.Fatalf("Verify(%q, %q) = %v: not one of the documented errors", path, query, err)
		}
		_ = StripQuery(query)
		_ = Query(query)

		expires := time.Unix(now.Unix()+ttl, 0)
		tok, err := s.Sign(path, expires)
		if err != nil {
			if _, perr := Prefix(path); perr == nil && expires.Unix() > 0 && expires.Unix() < 1e18 {
				t.Fatalf("Sign(%q, %v): %v", path, expires, err)
			}
			return
		}
		full := query + "&" + tok
		if StripQuery(query) == query { // query has no token of its own
			err := s.Verify(path, full, now)
			switch {
			case expires.After(now) && err != nil:
				t.Fatalf("Sign→Verify(%q, %q): %v", path, full, err)
			case !expires.After(now) && !errors.Is(err, ErrExpired):
				t.Fatalf("expired token: Verify(%q, %q) = %v, want ErrExpired", path, full, err)
			}
			if StripQuery(full) != query {
				t.Fatalf("StripQuery(%q) = %q, want the query without the token", full, StripQuery(full))
			}
			if err := s.Verify(path, Query(full), now); expires.After(now) && err != nil {
				t.Fatalf("Query(%q) = %q does not verify: %v", full, Query(full), err)
			}
		}
		// The token opens nothing outside its stream.
		prefix, _ := Prefix(path)
		for _, other := range []string{"/live/" + "x" + prefix[len("/live/"):] + "index.m3u8", "/replay/other-stream/index.m3u8"} {
			if p2, err := Prefix(other); err == nil && p2 != prefix && s.Verify(other, tok, now) == nil {
				t.Fatalf("a token for %s opens %s", prefix, other)
			}
		}
	})
}

// FuzzRewriteHLS: never panics; URI lines and URI attributes carry the token
// exactly once, everything else is unchanged; what gohlslib parsed before it
// parses after, with the same URIs plus the token.
func FuzzRewriteHLS(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.m3u8")
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\nseg1.m4s?a=1&exp=2#f\n",
		"#EXTM3U\r\n#EXT-X-MAP:URI=init.mp4\r\n#EXTINF:2,\r\n//x/seg1.m4s\r\n",
		"#EXT-X-MEDIA:NAME=\"a,URI=x\",URI=\"b\",URI=\"c\"\n",
		"\xef\xbb\xbf#EXTM3U\n  seg.m4s  \n",
		// Found by fuzzing: an unquoted URI with spaces after it.
		"#EXTM3U\n#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=0,LANGUAGE=0,NAME=0,URI=0  \n#EXT-X-STREAM-INF:\n00000",
	} {
		f.Add([]byte(seed))
	}
	tok := sign(f, signer(f), "/live/cam1/index.m3u8", now.Add(time.Hour))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out := RewriteHLS(in, tok)
		if !bytes.Equal(in, orig) {
			t.Fatal("RewriteHLS modified its input")
		}
		if err := checkHLSLines(in, out, tok); err != nil {
			t.Fatal(err)
		}
		if again := RewriteHLS(out, tok); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
		before, ok := tryParseHLS(in)
		if !ok {
			return
		}
		after, ok := tryParseHLS(out)
		if !ok {
			t.Fatalf("gohlslib parsed the playlist but not its rewrite:\n%q\n%q", in, out)
		}
		a, b := hlsURIs(before), hlsURIs(after)
		if len(a) != len(b) {
			t.Fatalf("%d URIs before, %d after", len(a), len(b))
		}
		for i := range a {
			if err := checkTokenized(a[i], b[i], tok); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// tryParseHLS parses with gohlslib, which is not ours to harden: a panic
// there counts as "does not parse".
func tryParseHLS(b []byte) (p playlist.Playlist, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	p, err := playlist.Unmarshal(b)
	return p, err == nil
}

// checkHLSLines checks, line by line, that out is in with the token added
// where the rules say and nothing else changed.
func checkHLSLines(in, out []byte, tok string) error {
	if bytes.HasPrefix(in, bom) {
		if !bytes.HasPrefix(out, bom) {
			return errors.New("byte order mark lost")
		}
		in, out = in[len(bom):], out[len(bom):]
	}
	il, ol := strings.Split(string(in), "\n"), strings.Split(string(out), "\n")
	if len(il) != len(ol) {
		return fmt.Errorf("%d lines became %d", len(il), len(ol))
	}
	for i, a := range il {
		b := ol[i]
		trimmed := strings.Trim(a, " \t\r")
		switch {
		case trimmed == "" || (trimmed[0] == '#' && !strings.HasPrefix(a, "#EXT")) || strings.HasPrefix(a, "#EXTINF:"):
			if a != b {
				return fmt.Errorf("line %d %q (no URI) became %q", i+1, a, b)
			}
		case trimmed[0] != '#':
			if err := checkTokenized(a, b, tok); err != nil {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
		default: // a tag
			if !strings.Contains(a, "URI=") {
				if a != b {
					return fmt.Errorf("line %d %q (no URI) became %q", i+1, a, b)
				}
				continue
			}
			if i == len(il)-1 && strings.HasSuffix(a, "\r") {
				continue // gohlslib keeps a CR that ends the file in the line
			}
			if err := checkTagLine(strings.TrimSuffix(a, "\r"), strings.TrimSuffix(b, "\r"), tok); err != nil {
				return fmt.Errorf("line %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// checkTagLine checks a tag with gohlslib's attribute parser: the same
// attributes, and URI tokenized.
func checkTagLine(a, b, tok string) error {
	name, list, _ := strings.Cut(a, ":")
	var ia, oa primitives.Attributes
	if ia.Unmarshal(list) != nil {
		return nil // not an attribute list: nothing to compare with
	}
	name2, list2, _ := strings.Cut(b, ":")
	if name != name2 || oa.Unmarshal(list2) != nil || len(ia) != len(oa) {
		return fmt.Errorf("tag %q became %q", a, b)
	}
	for k, v := range ia {
		w, ok := oa[k]
		switch {
		case !ok:
			return fmt.Errorf("tag %q lost %s in %q", a, k, b)
		case k == "URI":
			if err := checkTokenized(v, w, tok); err != nil {
				return err
			}
		case v != w:
			return fmt.Errorf("tag %q: %s changed in %q", a, k, b)
		}
	}
	return nil
}

// FuzzRewriteMPD: never panics; a document encoding/xml reads, it reads
// after the rewrite too, with the same elements and attributes, URL
// attributes tokenized, and other text unchanged.
func FuzzRewriteMPD(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.mpd")
	for _, name := range seeds {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{
		`<MPD><BaseURL> v.mp4 </BaseURL><SegmentTemplate media='a&amp;b?$Number$' initialization="i.mp4?x=&quot;"/></MPD>`,
		`<MPD><BaseURL><![CDATA[x.mp4]]></BaseURL><Location>http://h/m.mpd</Location><SegmentURL media="s1.m4s"/></MPD>`,
		`<x:MPD xmlns:x="urn:mpeg:dash:schema:mpd:2011"><x:SegmentTemplate media="s.m4s"></x:SegmentTemplate></x:MPD>`,
		`<MPD><SegmentTemplate media="a&#13;b" index="&#x9;"/><BaseURL>a<!--c-->b</BaseURL></MPD>`,
		// Found by fuzzing: a query of empty pairs only.
		`<MPD><Location>?&amp;</Location></MPD>`,
	} {
		f.Add([]byte(seed))
	}
	tok := sign(f, signer(f), "/live/cam1/manifest.mpd", now.Add(time.Hour))
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out := RewriteMPD(in, tok)
		if !bytes.Equal(in, orig) {
			t.Fatal("RewriteMPD modified its input")
		}
		a, err := xmlTokens(in)
		if err != nil {
			return
		}
		b, err := xmlTokens(out)
		if err != nil {
			t.Fatalf("the document was well-formed, its rewrite is not: %v\n%q\n%q", err, in, out)
		}
		if err := compareMPD(a, b, tok); err != nil {
			t.Fatalf("%v\n%q\n%q", err, in, out)
		}
		if again := RewriteMPD(out, tok); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent:\n%q\n%q", out, again)
		}
	})
}
