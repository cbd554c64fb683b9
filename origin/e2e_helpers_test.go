package origin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

// node is a livecdn origin process on free loopback ports.
type node struct {
	*testenv.Process
	rtmp, rtsp, srt string // host:port
	dir             string
	httpAddr        string
}

// startOrigin runs `livecdn origin` with the given extra flags. dir is the
// data directory (a fresh one when empty).
func startOrigin(t *testing.T, dir string, extra ...string) *node {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	n := &node{
		httpAddr: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		rtmp:     fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		rtsp:     fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		srt:      fmt.Sprintf("127.0.0.1:%d", testenv.FreeUDPPort(t)),
		dir:      dir,
	}
	args := append([]string{"origin", "--http", n.httpAddr, "--rtmp", n.rtmp, "--rtsp", n.rtsp, "--srt", n.srt,
		"--archive", dir}, extra...)
	n.Process = testenv.Start(t, n.httpAddr, args...)
	return n
}

func (n *node) restart(t *testing.T, extra ...string) *node {
	t.Helper()
	args := append([]string{"origin", "--http", n.httpAddr, "--rtmp", n.rtmp, "--rtsp", n.rtsp, "--srt", n.srt,
		"--archive", n.dir}, extra...)
	m := *n
	m.Process = testenv.Start(t, n.httpAddr, args...)
	return &m
}

func (n *node) rtmpURL(stream string) string { return "rtmp://" + n.rtmp + "/live/" + stream }
func (n *node) rtspURL(stream string) string { return "rtsp://" + n.rtsp + "/live/" + stream }
func (n *node) srtURL(stream string) string {
	return "srt://" + n.srt + "?streamid=publish:live/" + stream + "&pkt_size=1316"
}

// get fetches a URL below the node and returns status and body.
func get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, b
}

func mustGet(t testing.TB, url string) []byte {
	t.Helper()
	code, b := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	return b
}

// media fetches and parses a media playlist.
func media(t testing.TB, url string) *playlist.Media {
	t.Helper()
	var m playlist.Media
	if err := m.Unmarshal(mustGet(t, url)); err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return &m
}

// waitSegments waits until the media playlist lists at least n complete segments.
func waitSegments(t testing.TB, url string, n int, timeout time.Duration) *playlist.Media {
	t.Helper()
	var m *playlist.Media
	testenv.Eventually(t, timeout, fmt.Sprintf("%d segments in %s", n, url), func() bool {
		code, b := get(t, url)
		if code != http.StatusOK {
			return false
		}
		var pl playlist.Media
		if err := pl.Unmarshal(b); err != nil {
			t.Fatalf("parse %s: %v\n%s", url, err, b)
		}
		m = &pl
		return len(pl.Segments) >= n
	})
	return m
}

// download concatenates a rendition's init section and every listed segment
// into one file, as a player's buffer would hold them.
func download(t testing.TB, base string, m *playlist.Media) string {
	t.Helper()
	var buf []byte
	buf = append(buf, mustGet(t, base+"/"+m.Map.URI)...)
	for _, s := range m.Segments {
		buf = append(buf, mustGet(t, base+"/"+s.URI)...)
	}
	p := filepath.Join(t.(*testing.T).TempDir(), "media.mp4")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
