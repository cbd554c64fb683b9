package rtmp

import (
	"net/url"
	"strings"
	"testing"

	"github.com/livecdn/livecdn/ingest"
)

// joinAsGortmplib builds the URL the way gortmplib's ServerConn does from
// the connect tcUrl and the publish stream key.
func joinAsGortmplib(tcURL, streamKey string) (*url.URL, error) {
	if streamKey != "" && streamKey[0] != '?' {
		tcURL += "/" + streamKey
	}
	return url.Parse(tcURL)
}

// parseRTMP runs the whole publish-path parsing for a tcUrl and stream key.
func parseRTMP(tcURL, streamKey string) (name, key string, err error) {
	u, err := joinAsGortmplib(tcURL, streamKey)
	if err != nil {
		return "", "", err
	}
	return ingest.ParsePublishPath(publishPath(u))
}

func TestPublishPath(t *testing.T) {
	for _, tc := range []struct {
		tcURL, streamKey string
		name, key        string // want; name "" means refused
	}{
		{"rtmp://h/live", "test", "test", ""},
		{"rtmp://h:1935/live", "test?key=s3cret", "test", "s3cret"},
		{"rtmp://h/live", "test?key=s3cret&other=1", "test", "s3cret"},
		// OBS with the key in the server URL.
		{"rtmp://h/live?key=s3cret", "test", "test", "s3cret"},
		{"rtmp://h/live?key=a/b", "test", "test", "a/b"},
		{"rtmp://h/live?key=s3cret", "test?x=1", "test", "s3cret"},
		{"rtmp://h/live?x=1", "test?key=s3cret", "test", "s3cret"},
		// A trailing slash in the server URL.
		{"rtmp://h/live/", "test", "test", ""},
		{"rtmp://h/live/", "test?key=k", "test", "k"},
		// "#" belongs to the key, not a URL fragment.
		{"rtmp://h/live", "test?key=ab#c", "test", "ab#c"},
		{"rtmp://h/live", "te#st", "", ""},
		{"rtmp://h/other", "test", "", ""},
		{"rtmp://h/live", "", "", ""},
		{"rtmp://h/live", "?key=s3cret", "", ""},
		{"rtmp://h/live", "../etc", "", ""},
		{"rtmp://h/live", "test/extra", "", ""},
		{"rtmp://h/live", "te%2Fst", "", ""},
		{"rtmp://h", "live/test", "test", ""},
		{"rtmp://h/live?key=s3cret", "", "", ""},
	} {
		name, key, err := parseRTMP(tc.tcURL, tc.streamKey)
		if tc.name == "" {
			if err == nil {
				t.Errorf("%q + %q: got %q key %q, want refused", tc.tcURL, tc.streamKey, name, key)
			}
			continue
		}
		if err != nil || name != tc.name || key != tc.key {
			t.Errorf("%q + %q: got %q key %q (%v), want %q key %q", tc.tcURL, tc.streamKey, name, key, err, tc.name, tc.key)
		}
	}
	if got := publishPath(nil); got != "" {
		t.Errorf("publishPath(nil) = %q", got)
	}
}

// FuzzPublishPath feeds arbitrary tcUrls and stream keys through the parsing:
// it must never panic and never yield a name ingest would not accept.
func FuzzPublishPath(f *testing.F) {
	for _, s := range [][2]string{
		{"rtmp://h/live", "test"},
		{"rtmp://h/live", "test?key=s3cret"},
		{"rtmp://h/live?key=s3cret", "test"},
		{"rtmp://h/live?key=a/b", "test?x=1#y"},
		{"rtmp://h/live//", "test?"},
		{"rtmp:live", "?key"},
		{"rtmp://h/live?", "/"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tcURL, streamKey string) {
		u, err := joinAsGortmplib(tcURL, streamKey)
		if err != nil {
			return
		}
		name, _, err := ingest.ParsePublishPath(publishPath(u))
		if err == nil && !ingest.ValidName(name) {
			t.Fatalf("%q + %q gave invalid name %q", tcURL, streamKey, name)
		}
	})
}

// FuzzKeyPlacement checks that a name and key come out the same wherever the
// encoder put the key: in the stream key (ffmpeg, OBS "name?key=…") or in
// the server URL (OBS "rtmp://host/live?key=…").
func FuzzKeyPlacement(f *testing.F) {
	f.Add("test", "s3cret")
	f.Add("a_B-9", "x/y:z@w")
	f.Fuzz(func(t *testing.T, name, key string) {
		// Keys are matched as the encoder sends them, unescaped; characters
		// with a meaning in URLs or queries are not supported in keys.
		if !ingest.ValidName(name) || key == "" || strings.ContainsFunc(key, func(r rune) bool {
			return r <= ' ' || r >= 0x7f || strings.ContainsRune("?&#%+;=", r)
		}) {
			return
		}
		for _, p := range [][2]string{
			{"rtmp://h/live", name + "?key=" + key},
			{"rtmp://h/live?key=" + key, name},
		} {
			n, k, err := parseRTMP(p[0], p[1])
			if err != nil || n != name || k != key {
				t.Fatalf("%q + %q: got %q key %q (%v), want %q key %q", p[0], p[1], n, k, err, name, key)
			}
		}
	})
}
