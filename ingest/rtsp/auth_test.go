package rtsp

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

var tcp = []string{"-rtsp_transport", "tcp"}

// withCreds puts user:pass into an rtsp:// URL.
func withCreds(url, user, pass string) string {
	return strings.Replace(url, "rtsp://", "rtsp://"+user+":"+pass+"@", 1)
}

// mustFail runs ffmpeg, expects it to fail, and returns its output.
func mustFail(t *testing.T, args []string) string {
	t.Helper()
	p := testenv.Publish(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatalf("ffmpeg succeeded, want a refusal\n%s", p.Output())
	} else if ctx.Err() != nil {
		t.Fatalf("ffmpeg still running after %v", 20*time.Second)
	}
	return p.Output()
}

func TestPublishKeys(t *testing.T) {
	testenv.NeedFFmpeg(t)
	keys := &ingest.Keys{Streams: map[string]string{"test": "s3cret"}}
	e := newEnv(t, ingest.HubConfig{Keys: keys}, Config{})
	addr := e.srv.Addr().String()
	basic := func(user, pass string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}

	t.Run("status", func(t *testing.T) {
		cases := []struct {
			name   string
			url    string
			header []string
			want   string
		}{
			{"missing key", e.url("live/test"), nil, "RTSP/1.0 401 "},
			{"wrong key", e.url("live/test?key=nope"), nil, "RTSP/1.0 401 "},
			{"wrong password", e.url("live/test"), []string{basic("u", "nope")}, "RTSP/1.0 401 "},
			{"bad name", e.url("live/bad.name?key=s3cret"), nil, "RTSP/1.0 400 "},
			{"not under live", e.url("vod/test?key=s3cret"), nil, "RTSP/1.0 400 "},
		}
		for _, tc := range cases {
			status, header := rawRequest(t, addr, announce(tc.url, tc.header...))
			if !strings.HasPrefix(status, tc.want) {
				t.Errorf("%s: got %q, want %q…", tc.name, status, tc.want)
			}
			// Without credentials a 401 must challenge, or ffmpeg never
			// retries with the user:key from its URL.
			if tc.name == "missing key" && !strings.Contains(header, "WWW-Authenticate: Basic") {
				t.Errorf("%s: no Basic challenge in\n%s", tc.name, header)
			}
		}
	})

	t.Run("ffmpeg wrong key", func(t *testing.T) {
		src := testenv.Source{Duration: time.Second, Extra: tcp}
		for _, url := range []string{e.url("live/test?key=nope"), withCreds(e.url("live/test"), "u", "nope"), e.url("live/test")} {
			out := mustFail(t, src.Args("rtsp", url))
			if !strings.Contains(out, "401") {
				t.Errorf("%s: ffmpeg output does not mention 401:\n%s", url, out)
			}
		}
		if n := e.rec.NumStreams(); n != 0 {
			t.Fatalf("handler saw %d streams from refused publishers", n)
		}
	})

	t.Run("ffmpeg right key", func(t *testing.T) {
		src := testenv.Source{Duration: time.Second, Extra: tcp}
		for _, url := range []string{e.url("live/test?key=s3cret"), withCreds(e.url("live/test"), "anyone", "s3cret")} {
			s := publishAndWait(t, e, src.Args("rtsp", url))
			if s.Name != "test" || len(s.TrackUnits(0)) == 0 {
				t.Errorf("%s: stream %q with %d video units", url, s.Name, len(s.TrackUnits(0)))
			}
		}
	})
}

func TestSecondPublisherRefused(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{}, Config{})
	url := e.url("live/test")
	first := testenv.Publish(t, testenv.Source{Realtime: true, Extra: tcp}.Args("rtsp", url)...)
	videoUnits := func() int {
		ss := e.rec.Streams()
		if len(ss) == 0 {
			return 0
		}
		return len(ss[0].TrackUnits(0))
	}
	testenv.Eventually(t, 10*time.Second, "first publisher live", func() bool { return videoUnits() > 10 })

	out := mustFail(t, testenv.Source{Duration: time.Second, Extra: tcp}.Args("rtsp", url))
	if !strings.Contains(out, "409") || !strings.Contains(out, "already being published") {
		t.Errorf("second publisher's ffmpeg output lacks the reason:\n%s", out)
	}
	status, _ := rawRequest(t, e.srv.Addr().String(), announce(url))
	if status != "RTSP/1.0 409 Conflict (stream is already being published)" {
		t.Errorf("raw ANNOUNCE: %q", status)
	}

	n := videoUnits()
	testenv.Eventually(t, 10*time.Second, "first publisher keeps going", func() bool { return videoUnits() > n+15 })
	select {
	case <-first.Done():
		t.Fatalf("first publisher exited:\n%s", first.Output())
	default:
	}
	if c := e.rec.NumStreams(); c != 1 {
		t.Fatalf("%d streams, want 1", c)
	}
}

// TestTakeover checks that a session kicked through the Hub (takeover here;
// shutdown works the same) drops the RTSP publisher.
func TestTakeover(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{Takeover: true}, Config{})
	url := e.url("live/test")
	src := testenv.Source{Realtime: true, Extra: tcp}
	first := testenv.Publish(t, src.Args("rtsp", url)...)
	testenv.Eventually(t, 10*time.Second, "first publisher live", func() bool {
		ss := e.rec.Streams()
		return len(ss) == 1 && ss[0].NumUnits() > 0
	})
	testenv.Publish(t, src.Args("rtsp", url)...)
	testenv.Eventually(t, 10*time.Second, "second publisher takes over", func() bool {
		ss := e.rec.Streams()
		return len(ss) == 2 && ss[0].Closed() && !ss[1].Closed() && ss[1].NumUnits() > 0
	})
	select {
	case <-first.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("first publisher still running after takeover")
	}
}

func TestCloseEndsPublishers(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{}, Config{})
	p := testenv.Publish(t, testenv.Source{Realtime: true, Extra: tcp}.Args("rtsp", e.url("live/test"))...)
	testenv.Eventually(t, 10*time.Second, "publisher live", func() bool {
		ss := e.rec.Streams()
		return len(ss) == 1 && ss[0].NumUnits() > 0
	})
	done := make(chan struct{})
	go func() { e.srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	if ss := e.rec.Streams(); !ss[0].Closed() {
		t.Error("sink not closed by Close")
	}
	if e.hub.Live("test") {
		t.Error("name still claimed after Close")
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("ffmpeg still running after Close")
	}
}

// TestPlaybackRefused checks that the server only ingests.
func TestPlaybackRefused(t *testing.T) {
	e := newEnv(t, ingest.HubConfig{}, Config{})
	addr := e.srv.Addr().String()
	url := e.url("live/test")
	cases := []struct{ req, want string }{
		{"DESCRIBE " + url + " RTSP/1.0\r\nCSeq: 1\r\n\r\n", "RTSP/1.0 405 "},
		{"SETUP " + url + "/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n", "RTSP/1.0 405 "},
		{"PLAY " + url + " RTSP/1.0\r\nCSeq: 1\r\n\r\n", "RTSP/1.0 501 "},
	}
	for _, tc := range cases {
		if status, _ := rawRequest(t, addr, tc.req); !strings.HasPrefix(status, tc.want) {
			t.Errorf("%s: got %q, want %q…", firstLine(tc.req), status, tc.want)
		}
	}
	status, header := rawRequest(t, addr, "OPTIONS "+url+" RTSP/1.0\r\nCSeq: 1\r\n\r\n")
	if !strings.HasPrefix(status, "RTSP/1.0 200") || !strings.Contains(header, "ANNOUNCE") || strings.Contains(header, "PLAY") {
		t.Errorf("OPTIONS: %q\n%s", status, header)
	}
}

// TestUnsupportedMedia refuses an SDP with nothing we can ingest, and
// releases the name it had claimed.
func TestUnsupportedMedia(t *testing.T) {
	e := newEnv(t, ingest.HubConfig{}, Config{})
	sdp := "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:trackID=0\r\n"
	c := dialRTSP(t, e.srv.Addr().String())
	st, _ := c.do("ANNOUNCE", e.url("live/g711"), sdp, "Content-Type: application/sdp")
	if !strings.HasPrefix(st, "RTSP/1.0 415 ") {
		t.Fatalf("ANNOUNCE: %q, want 415", st)
	}
	if e.hub.Live("g711") || e.rec.NumStreams() != 0 {
		t.Fatal("refused stream left a trace")
	}
}
