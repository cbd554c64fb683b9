package origin_test

import (
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// hls.js (low-latency mode) and dash.js play the same live stream for 8 s in
// headless Chromium without an error; the measured live latency is printed.
func TestBrowserPlayback(t *testing.T) {
	testenv.NeedFFmpeg(t)
	testenv.NeedBrowser(t)
	t.Parallel()
	n := startOrigin(t, "")
	testenv.PublishSource(t, testenv.Source{Duration: 90 * time.Second, Realtime: true}, "flv", n.rtmpURL("web"))
	waitSegments(t, n.HTTP+"/live/web/video/index.m3u8", 2, 20*time.Second)

	for _, tc := range []struct {
		player, url string
	}{
		{"hls", n.HTTP + "/live/web/index.m3u8"},
		{"dash", n.HTTP + "/live/web/manifest.mpd"},
	} {
		t.Run(tc.player, func(t *testing.T) {
			res := testenv.Play(t, testenv.PlayOptions{
				Player: tc.player, URL: tc.url, Duration: 8 * time.Second, LowLatency: true, CrossOrigin: true,
			})
			t.Logf("%s: %s", tc.player, res.Summary())
			if !res.Started || res.Played < 8 || res.Advance < 7 {
				t.Fatalf("%s played %.1fs (currentTime advanced %.1fs), want ≥ 8s", tc.player, res.Played, res.Advance)
			}
			if len(res.Errors) > 0 {
				t.Errorf("%s error events: %v", tc.player, res.Errors)
			}
			if res.Latency <= 0 {
				t.Errorf("%s reported no live latency", tc.player)
			}
			t.Logf("%s live latency: %.2fs (avg %.2fs, max %.2fs)", tc.player, res.Latency, res.LatencyAvg, res.LatencyMax)
		})
	}
}
