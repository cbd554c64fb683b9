package origin_test

import (
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/livecdn/livecdn/internal/testenv"
)

// objects records every URL a playlist names with the hash of its bytes,
// so a later fetch can prove no URL was reused for different bytes.
type objects map[string][32]byte

func (o objects) collect(t *testing.T, base, rend string) {
	t.Helper()
	m := media(t, base+"/"+rend+"/index.m3u8")
	urls := []string{m.Map.URI}
	for _, s := range m.Segments {
		urls = append(urls, s.URI)
		for _, p := range s.Parts {
			urls = append(urls, p.URI)
		}
	}
	for _, u := range urls {
		o[rend+"/"+u] = sha256.Sum256(mustGet(t, base+"/"+rend+"/"+u))
	}
}

func (o objects) check(t *testing.T, later objects) {
	t.Helper()
	same := 0
	for u, h := range later {
		if old, ok := o[u]; ok {
			same++
			if old != h {
				t.Errorf("%s changed bytes", u)
			}
		}
	}
	if same == 0 {
		t.Errorf("no URL seen both before and after: nothing was compared")
	}
}

// A publisher that drops and returns continues the same stream behind a
// discontinuity: numbers keep rising, no URL changes bytes, hls.js keeps playing.
func TestPublisherReconnect(t *testing.T) {
	testenv.NeedFFmpeg(t)
	testenv.NeedBrowser(t)
	t.Parallel()
	// A long window keeps the objects seen before the drop listed however
	// slowly a loaded machine plays the 12 s across it.
	n := startOrigin(t, "", "--window", "40")
	src := testenv.Source{Duration: 120 * time.Second, Realtime: true}
	first := testenv.PublishSource(t, src, "flv", n.rtmpURL("re"))
	base := n.HTTP + "/live/re"
	waitSegments(t, base+"/video/index.m3u8", 2, 20*time.Second)
	before := objects{}
	before.collect(t, base, "video")
	before.collect(t, base, "audio")
	lastBefore := media(t, base+"/video/index.m3u8")

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(3 * time.Second) // let the player settle before the drop
		first.Stop()
		testenv.PublishSource(t, src, "flv", n.rtmpURL("re"))
	}()
	res := testenv.Play(t, testenv.PlayOptions{Player: "hls", URL: base + "/index.m3u8", Duration: 12 * time.Second, LowLatency: true})
	wg.Wait()
	t.Logf("across the reconnect: %s", res.Summary())
	if res.Played < 10 || len(res.FatalErrors()) > 0 {
		t.Errorf("player did not keep playing: played %.1fs, fatal errors %v", res.Played, res.FatalErrors())
	}

	after := waitSegments(t, base+"/video/index.m3u8", 1, 10*time.Second)
	body := string(mustGet(t, base+"/video/index.m3u8"))
	// On a slow machine the window may have moved past the tag itself; the
	// discontinuity sequence still counts it.
	discontinuity := strings.Contains(body, "#EXT-X-DISCONTINUITY\n") || (after.DiscontinuitySequence != nil && *after.DiscontinuitySequence >= 1)
	if !discontinuity || !strings.Contains(body, `#EXT-X-MAP:URI="init2.mp4"`) {
		t.Errorf("no discontinuity with the new init section in:\n%s", body)
	}
	if after.MediaSequence < lastBefore.MediaSequence {
		t.Errorf("media sequence went back: %d after %d", after.MediaSequence, lastBefore.MediaSequence)
	}
	later := objects{}
	later.collect(t, base, "video")
	later.collect(t, base, "audio")
	before.check(t, later)

	doc, err := mpd.MPDFromBytes(mustGet(t, base+"/manifest.mpd"))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Periods) != 2 {
		t.Errorf("DASH has %d periods, want one per publish session (2)", len(doc.Periods))
	}
}

var msnRE = regexp.MustCompile(`seg(\d+)\.m4s`)

// An origin killed with SIGKILL and restarted on the same data directory
// continues the numbering: no sequence number is handed out twice.
func TestRestartContinuesNumbering(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "")
	pub := testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n.rtmpURL("rs"))
	m := waitSegments(t, n.HTTP+"/live/rs/video/index.m3u8", 2, 20*time.Second)
	maxBefore, _ := lastPart(m) // the newest segment anyone could have seen
	n.Kill()
	pub.Stop()

	n2 := n.restart(t)
	testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n2.rtmpURL("rs"))
	m2 := waitSegments(t, n2.HTTP+"/live/rs/video/index.m3u8", 1, 20*time.Second)
	if int64(m2.MediaSequence) <= maxBefore {
		t.Errorf("after restart the first MSN is %d, but %d was already in use", m2.MediaSequence, maxBefore)
	}
	if m2.DiscontinuitySequence == nil || *m2.DiscontinuitySequence < 1 {
		t.Errorf("discontinuity sequence did not advance across the restart")
	}
	if m2.Map.URI == "init1.mp4" {
		t.Errorf("init section name reused after restart")
	}
}

// With a keys file, a wrong or missing key is refused on every protocol
// before any media is accepted; a second publisher on a live name is refused
// while the first goes on.
func TestPublishAuthAndConflict(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	keys := filepath.Join(t.TempDir(), "keys.yaml")
	os.WriteFile(keys, []byte("streams:\n  sec: s3cret\n"), 0o644)
	n := startOrigin(t, "", "--keys-file", keys)
	short := testenv.Source{Duration: 3 * time.Second}
	for _, tc := range []struct{ name, format, url string }{
		{"rtmp wrong", "flv", n.rtmpURL("sec") + "?key=nope"},
		{"rtmp missing", "flv", n.rtmpURL("sec")},
		{"rtsp wrong", "rtsp", n.rtspURL("sec") + "?key=nope"},
		{"srt wrong", "mpegts", "srt://" + n.srt + "?streamid=publish:live/sec?key=nope&pkt_size=1316"},
		{"unlisted", "flv", n.rtmpURL("other") + "?key=s3cret"},
	} {
		src := short
		if tc.format == "rtsp" {
			src.Extra = []string{"-rtsp_transport", "tcp"}
		}
		p := testenv.PublishSource(t, src, tc.format, tc.url)
		if err := p.Wait(t.Context()); err == nil {
			t.Errorf("%s: ffmpeg succeeded", tc.name)
		}
	}
	for _, s := range []string{"sec", "other"} {
		if code, _ := get(t, n.HTTP+"/live/"+s+"/index.m3u8"); code != http.StatusNotFound {
			t.Errorf("refused stream %s has a playlist (%d)", s, code)
		}
	}

	testenv.PublishSource(t, testenv.Source{Duration: 30 * time.Second, Realtime: true}, "flv", n.rtmpURL("sec")+"?key=s3cret")
	m := waitSegments(t, n.HTTP+"/live/sec/video/index.m3u8", 1, 20*time.Second)
	second := testenv.PublishSource(t, short, "flv", n.rtmpURL("sec")+"?key=s3cret")
	if err := second.Wait(t.Context()); err == nil {
		t.Errorf("second publisher on a live name was accepted")
	}
	waitSegments(t, n.HTTP+"/live/sec/video/index.m3u8", len(m.Segments)+2, 20*time.Second)
	if !strings.Contains(n.Output(), "already being published") {
		t.Errorf("no clear refusal logged for the second publisher")
	}
}

// Garbage on every ingest port closes that connection and nothing else: the
// live stream keeps advancing.
func TestIngestGarbage(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "")
	testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n.rtmpURL("g"))
	url := n.HTTP + "/live/g/video/index.m3u8"
	m := waitSegments(t, url, 1, 20*time.Second)
	junk := make([]byte, 64<<10)
	for i := range junk {
		junk[i] = byte(rand.IntN(256))
	}
	for _, addr := range []string{n.rtmp, n.rtsp} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(junk)
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Errorf("%s kept a garbage connection open", addr)
				}
				break
			}
		}
		c.Close()
	}
	u, err := net.Dial("udp", n.srt)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		u.Write(junk[i*1000 : i*1000+1316])
	}
	u.Close()
	waitSegments(t, url, len(m.Segments)+2, 20*time.Second)
	if code, _ := get(t, n.HTTP+"/live/g/index.m3u8"); code != http.StatusOK {
		t.Errorf("multivariant after garbage: %d", code)
	}
}

// SIGTERM drains: the process stops taking publishers, flushes, and exits 0.
func TestGracefulShutdown(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "", "--drain", "3s")
	testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n.rtmpURL("bye"))
	waitSegments(t, n.HTTP+"/live/bye/video/index.m3u8", 1, 20*time.Second)
	start := time.Now()
	if err := n.Stop(10 * time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	out := n.Output()
	for _, want := range []string{"shutting down", "publish ended", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

// Oversized headers and garbage requests get an error answer and cost the
// origin nothing: the live stream is still served right after.
func TestHTTPAbuse(t *testing.T) {
	t.Parallel()
	n := startOrigin(t, "")
	for _, tc := range []struct {
		name, req, want string
	}{
		{"1 MiB header", "GET /live/x/index.m3u8 HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n", " 431 "},
		{"garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", " 400 "},
		{"NUL in path", "GET /live/s\x00/index.m3u8 HTTP/1.1\r\nHost: a\r\n\r\n", " 400 "},
	} {
		c, err := net.Dial("tcp", n.httpAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go c.Write([]byte(tc.req))
		buf := make([]byte, 256)
		k, _ := c.Read(buf)
		c.Close()
		if !strings.Contains(string(buf[:k]), tc.want) {
			t.Errorf("%s: answer %q, want %q", tc.name, buf[:k], tc.want)
		}
	}
	if code, _ := get(t, n.HTTP+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz after abuse: %d", code)
	}
}
