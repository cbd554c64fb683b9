package origin

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/live"
)

// A 320x180 High-profile SPS/PPS as x264 writes them.
var (
	testSPS = []byte{0x67, 0x64, 0x00, 0x0c, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60}
	testPPS = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
)

// feed publishes seconds of synthetic 30 fps video and AAC into o as stream
// name, as fast as the packager takes it, and leaves the session open.
func feed(t *testing.T, o *Origin, name string, seconds int) ingest.Sink {
	t.Helper()
	sink, err := o.Publish(&ingest.Stream{Name: name, Protocol: "test", Remote: "127.0.0.1:1", Started: time.Now(),
		Tracks: []*ingest.Track{
			{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}, ClockRate: 90000},
			{Codec: &codecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
				Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}, ClockRate: 48000},
		}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	vi, ai := 0, 0
	for vi < seconds*30 {
		if int64(vi)*48000 <= int64(ai)*1024*30 {
			d := int64(vi) * 3000
			_ = sink.WriteUnit(&ingest.Unit{Track: 0, DTS: d, PTS: d, Key: vi%60 == 0, Data: [][]byte{{0x65, byte(vi), 0, 0}}, Received: now})
			vi++
		} else {
			d := int64(ai) * 1024
			_ = sink.WriteUnit(&ingest.Unit{Track: 1, DTS: d, PTS: d, Key: true, Data: [][]byte{{0x21, byte(ai)}}, Received: now})
			ai++
		}
	}
	return sink
}

func newTestOrigin(t *testing.T) (*Origin, *httptest.Server) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.BlockTimeout = 500 * time.Millisecond
	o := New(cfg)
	t.Cleanup(o.Close)
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	return o, srv
}

func do(t *testing.T, method, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func TestHTTPSemantics(t *testing.T) {
	o, srv := newTestOrigin(t)
	feed(t, o, "s", 7)
	base := srv.URL + "/live/s"

	t.Run("cache headers", func(t *testing.T) {
		for path, want := range map[string]string{
			"/index.m3u8":        ccPlaylist,
			"/video/index.m3u8":  ccPlaylist,
			"/manifest.mpd":      ccPlaylist,
			"/video/init1.mp4":   ccImmutable,
			"/video/seg0.m4s":    ccImmutable,
			"/video/part0.0.m4s": ccImmutable,
			"/audio/seg1.m4s":    ccImmutable,
			"/video/seg99.m4s":   ccNotFound,
		} {
			resp, _ := do(t, "GET", base+path)
			if got := resp.Header.Get("Cache-Control"); got != want {
				t.Errorf("%s: %d Cache-Control %q, want %q", path, resp.StatusCode, got, want)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
				t.Errorf("%s: no CORS header", path)
			}
		}
	})

	t.Run("range, head, conditional", func(t *testing.T) {
		full, body := do(t, "GET", base+"/video/seg0.m4s")
		if full.StatusCode != 200 || len(body) < 100 {
			t.Fatalf("segment: %d, %d bytes", full.StatusCode, len(body))
		}
		resp, part := do(t, "GET", base+"/video/seg0.m4s", "Range", "bytes=10-19")
		if resp.StatusCode != http.StatusPartialContent || part != body[10:20] ||
			resp.Header.Get("Content-Range") != fmt.Sprintf("bytes 10-19/%d", len(body)) {
			t.Errorf("range: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Range"), part)
		}
		head, hb := do(t, "HEAD", base+"/video/seg0.m4s")
		if head.StatusCode != 200 || hb != "" || head.ContentLength != int64(len(body)) {
			t.Errorf("HEAD: %d len %d body %q", head.StatusCode, head.ContentLength, hb)
		}
		etag := full.Header.Get("ETag")
		if etag == "" {
			t.Fatal("no ETag")
		}
		nm, _ := do(t, "GET", base+"/video/seg0.m4s", "If-None-Match", etag)
		if nm.StatusCode != http.StatusNotModified {
			t.Errorf("If-None-Match: %d", nm.StatusCode)
		}
		pl, _ := do(t, "GET", base+"/video/index.m3u8")
		pnm, _ := do(t, "GET", base+"/video/index.m3u8", "If-None-Match", pl.Header.Get("ETag"))
		if pnm.StatusCode != http.StatusNotModified {
			t.Errorf("playlist If-None-Match: %d", pnm.StatusCode)
		}
		opt, _ := do(t, "OPTIONS", base+"/video/seg0.m4s", "Origin", "http://elsewhere", "Access-Control-Request-Headers", "range")
		if opt.StatusCode != http.StatusNoContent || !strings.Contains(opt.Header.Get("Access-Control-Allow-Headers"), "Range") {
			t.Errorf("preflight: %d %v", opt.StatusCode, opt.Header)
		}
	})

	t.Run("hostile paths", func(t *testing.T) {
		for _, p := range []string{
			"/live/s/../s/index.m3u8", "/live/s/video/..%2f..%2fetc", "/live/s%2fvideo/index.m3u8",
			"/live/s/video/seg0.m4s%00", "/live/" + strings.Repeat("a", 8192) + "/index.m3u8",
			"/live/s//index.m3u8", "/live/s/video/seg-1.m4s", "/live/s/video/x.m4s", "/live/s/./index.m3u8",
			"/live/s/video/extra/seg0.m4s", "/live/s%5cvideo/index.m3u8",
		} {
			resp := rawGet(t, srv.URL, p)
			if resp != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", trunc(p), resp)
			}
		}
		start := time.Now()
		for _, p := range []string{"/live/nope/index.m3u8", "/live/s/nope/index.m3u8", "/live/nope/manifest.mpd"} {
			if resp, _ := do(t, "GET", srv.URL+p); resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s: %d, want 404", p, resp.StatusCode)
			}
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("unknown streams took %v to answer", d)
		}
		if resp, _ := do(t, "POST", base+"/index.m3u8"); resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d", resp.StatusCode)
		}
	})

	t.Run("api", func(t *testing.T) {
		resp, body := do(t, "GET", srv.URL+"/api/streams")
		if resp.StatusCode != 200 || !strings.Contains(body, `"name":"s"`) || !strings.Contains(body, `"codecs":["avc1.64000c","mp4a.40.2"]`) ||
			!strings.Contains(body, `"publisher":"127.0.0.1:1"`) || !strings.Contains(body, `"uptime_seconds"`) {
			t.Errorf("api/streams: %s", body)
		}
		for _, p := range []string{"/healthz", "/readyz", "/api/time"} {
			if resp, _ := do(t, "GET", srv.URL+p); resp.StatusCode != 200 {
				t.Errorf("%s: %d", p, resp.StatusCode)
			}
		}
		o.Drain()
		if resp, _ := do(t, "GET", srv.URL+"/readyz"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("readyz while draining: %d", resp.StatusCode)
		}
	})
}

// rawGet sends a request line as given, bypassing client-side path cleaning.
func rawGet(t *testing.T, base, path string) int {
	t.Helper()
	u, _ := url.Parse(base)
	req := &http.Request{Method: "GET", URL: &url.URL{Scheme: "http", Host: u.Host, Opaque: path}, Host: u.Host, Header: http.Header{}}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s: %v", trunc(path), err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func trunc(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Blocking requests time out with 503, early parts are held and released.
func TestBlockingAndPreload(t *testing.T) {
	o, srv := newTestOrigin(t)
	sink := feed(t, o, "b", 3)
	base := srv.URL + "/live/b/video"
	r := o.streams.Get("b").Rendition("video")
	msn, part, _ := r.Last()

	// The preload-hinted part: requested before it exists, answered once written.
	got := make(chan int, 1)
	go func() {
		resp, _ := do(t, "GET", fmt.Sprintf("%s/part%d.%d.m4s", base, msn, part+1))
		got <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond) // let the request arrive before the part
	d := int64(3*30) * 3000
	for i := 0; i < 12; i++ {
		_ = sink.WriteUnit(&ingest.Unit{Track: 0, DTS: d, PTS: d, Data: [][]byte{{0x41, 1}}, Received: time.Now()})
		d += 3000
	}
	if code := <-got; code != 200 {
		t.Errorf("held part: %d", code)
	}
	// Nothing more arrives: a blocking request for the far future times out with 503.
	resp, _ := do(t, "GET", fmt.Sprintf("%s/index.m3u8?_HLS_msn=%d&_HLS_part=0", base, msn+1))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("stalled blocking request: %d, want 503", resp.StatusCode)
	}
	sink.Close()
	// Once the publisher is gone a part that will never exist is a 404, not a hold.
	resp, _ = do(t, "GET", fmt.Sprintf("%s/part%d.0.m4s", base, msn+5))
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("part after the end: %d, want 404", resp.StatusCode)
	}
}

// LL-DASH: the segment in progress is sent chunked, part by part, as it grows.
func TestChunkedSegmentInProgress(t *testing.T) {
	o, srv := newTestOrigin(t)
	sink := feed(t, o, "c", 3) // seg0 complete, seg1 has 1 s of parts
	r := o.streams.Get("c").Rendition("video")
	msn, _, _ := r.Last()
	resp, err := http.Get(fmt.Sprintf("%s/live/c/video/seg%d.m4s", srv.URL, msn))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != -1 {
		t.Fatalf("in-progress segment: %d, length %d (want chunked)", resp.StatusCode, resp.ContentLength)
	}
	first := make([]byte, 8)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatalf("no bytes before the segment completed: %v", err)
	}
	if seg, _ := r.Segment(msn); seg.Complete {
		t.Fatal("segment already complete: the test proves nothing")
	}
	// Finish the segment: 1.2 more seconds of video and the next keyframe.
	for i := 90; i <= 126; i++ {
		d := int64(i) * 3000
		_ = sink.WriteUnit(&ingest.Unit{Track: 0, DTS: d, PTS: d, Key: i%60 == 0, Data: [][]byte{{0x41, byte(i)}}, Received: time.Now()})
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	_, whole := do(t, "GET", fmt.Sprintf("%s/live/c/video/seg%d.m4s", srv.URL, msn))
	if string(first)+string(rest) != whole {
		t.Errorf("chunked body (%d bytes) differs from the complete segment (%d bytes)", len(first)+len(rest), len(whole))
	}
}

// Without a data directory numbers still never repeat within the process:
// a second publish session continues them (the demo relies on it).
func TestNoDataDirStillNeverReusesNumbers(t *testing.T) {
	o, _ := newTestOrigin(t)
	feed(t, o, "m", 5).Close()
	last, _, _ := o.streams.Get("m").Rendition("video").Last()
	feed(t, o, "m", 5).Close()
	snap := o.streams.Get("m").Rendition("video").Snapshot()
	var second *live.Segment
	for i := range snap.Segments {
		if snap.Segments[i].Session == 2 {
			second = &snap.Segments[i]
			break
		}
	}
	if second == nil || second.MSN <= last || !second.Discontinuity {
		t.Fatalf("second session starts at %+v after MSN %d", second, last)
	}
}
