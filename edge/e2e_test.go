package edge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/upstream"
	"github.com/livecdn/livecdn/internal/testenv"
)

// liveOrigin starts a real `livecdn origin` process with an ffmpeg RTMP
// publisher and waits until stream "s" has two segments.
func liveOrigin(t *testing.T) string {
	t.Helper()
	testenv.NeedFFmpeg(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rtmp := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	o := testenv.Start(t, httpAddr, "origin", "--http", httpAddr, "--rtmp", rtmp, "--rtsp", "", "--srt", "", "--archive", t.TempDir())
	testenv.PublishSource(t, testenv.Source{Duration: 120 * time.Second, Realtime: true}, "flv", "rtmp://"+rtmp+"/live/s")
	testenv.Eventually(t, 20*time.Second, "origin playlist", func() bool {
		resp, err := http.Get(o.HTTP + "/live/s/video/index.m3u8")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var m playlist.Media
		return resp.StatusCode == 200 && m.Unmarshal(b) == nil && len(m.Segments) >= 2
	})
	return o.HTTP
}

// 2,000 viewers block on the next part at once: the edge sends one blocking
// request per part to the real origin and releases everyone when it answers.
func TestBlocking2000(t *testing.T) {
	originURL := liveOrigin(t)
	var mu sync.Mutex
	blocking := map[string]int{}
	answered := map[string]time.Time{}
	ocfg := upstream.DefaultOriginsConfig()
	ocfg.URLs = []string{originURL}
	origins, err := upstream.NewOrigins(ocfg)
	if err != nil {
		t.Fatal(err)
	}
	defer origins.Close()
	counting := upstream.Func(func(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
		resp, err := origins.Fetch(ctx, r)
		if strings.Contains(r.Query, "_HLS_msn") {
			mu.Lock()
			blocking[r.Query]++
			answered[r.Query] = time.Now()
			mu.Unlock()
		}
		return resp, err
	})
	cfg := edge.DefaultConfig()
	cfg.Addr, cfg.Upstream = "127.0.0.1:0", counting
	srv, err := edge.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr().String() + "/live/s/video/index.m3u8"

	viewers := 2000
	if testenv.Race {
		viewers = 500 // full size in the race-free pass
	}
	_, b := fetch(t, base)
	// Round 0 warms up from the plain playlist, which the edge may have cached
	// a moment ago; from round 1 on the asked-for part is one nobody has yet.
	for round := 0; round < 4; round++ {
		var m playlist.Media
		if err := m.Unmarshal(b); err != nil {
			t.Fatal(err)
		}
		// The part after the newest one: nobody can have it yet.
		msn, part := int64(m.MediaSequence+len(m.Segments)), len(m.Parts)
		q := fmt.Sprintf("_HLS_msn=%d&_HLS_part=%d", msn, part)
		var last []byte
		var wg sync.WaitGroup
		arrivals := make([]time.Time, viewers)
		for i := 0; i < viewers; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				resp, err := client.Get(base + "?" + q)
				if err != nil {
					t.Error(err)
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				arrivals[i] = time.Now()
				if i == 0 {
					last = body
				}
				if resp.StatusCode != 200 {
					t.Errorf("viewer got %d", resp.StatusCode)
				}
			}(i)
		}
		wg.Wait()
		sort.Slice(arrivals, func(i, j int) bool { return arrivals[i].Before(arrivals[j]) })
		b = last
		mu.Lock()
		n, up := blocking[q], answered[q]
		mu.Unlock()
		if round > 0 && n != 1 {
			t.Errorf("round %d: %d upstream blocking requests for %s, want 1", round, n, q)
		}
		spread := arrivals[len(arrivals)-1].Sub(arrivals[0])
		t.Logf("round %d: %d viewers for %s: %d upstream request(s); all answered within %v of each other (%v after the upstream answer)",
			round, viewers, q, n, spread, arrivals[len(arrivals)-1].Sub(up))
	}
	mu.Lock()
	defer mu.Unlock()
	for k, c := range blocking {
		if c > 1 {
			t.Errorf("%s requested upstream %d times", k, c)
		}
	}
}

// Real players and ffprobe read the live stream through a `livecdn edge` process.
func TestPlayersThroughEdge(t *testing.T) {
	originURL := liveOrigin(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e := testenv.Start(t, addr, "edge", "--http", addr, "--origin", originURL, "--cache-size", "64MiB")
	for _, u := range []string{e.HTTP + "/live/s/index.m3u8", e.HTTP + "/live/s/manifest.mpd"} {
		p := testenv.FFprobe(t, u)
		if v := p.Codec("video"); v == nil || v.CodecName != "h264" || v.Width != 320 {
			t.Errorf("ffprobe %s through the edge: %+v", u, p.Streams)
		}
	}
	testenv.NeedBrowser(t)
	for _, tc := range []struct{ player, url string }{
		{"hls", e.HTTP + "/live/s/index.m3u8"},
		{"dash", e.HTTP + "/live/s/manifest.mpd"},
	} {
		res := testenv.Play(t, testenv.PlayOptions{Player: tc.player, URL: tc.url, Duration: 8 * time.Second, LowLatency: true, CrossOrigin: true})
		t.Logf("%s through the edge: %s", tc.player, res.Summary())
		if res.Played < 8 || len(res.FatalErrors()) > 0 {
			t.Errorf("%s through the edge: played %.1fs, fatal errors %v", tc.player, res.Played, res.FatalErrors())
		}
		if len(res.Errors) > 0 {
			t.Logf("%s through the edge: recovered errors %v", tc.player, res.Errors)
		}
		t.Logf("%s live latency through the edge: %.2fs", tc.player, res.Latency)
	}
	metrics := string(mustBody(t, e.HTTP+"/metrics"))
	for _, want := range []string{"livecdn_edge_requests_total", `cache="HIT"`, "livecdn_edge_held_requests", "livecdn_edge_cache_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("edge metrics lack %s", want)
		}
	}
}

func mustBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, b := fetch(t, url)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d", url, resp.StatusCode)
	}
	return b
}
