package origin_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

// get is testenv.Get.
var get = testenv.Get

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

// waitSegments is testenv.WaitSegments.
var waitSegments = testenv.WaitSegments

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
