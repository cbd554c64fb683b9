package testenv

import (
	"strings"
	"testing"
	"time"
)

// TestPlay checks the harness end to end: ffmpeg writes a live CMAF HLS and
// a live DASH stream, headless Chromium plays each with hls.js / dash.js.
func TestPlay(t *testing.T) {
	NeedBrowser(t)
	t.Parallel()
	cases := []struct {
		name        string
		format      string
		crossOrigin bool
		lowLatency  bool
	}{
		{"hls", "hls", false, false},
		{"dash-cross-origin", "dash", true, true},
	}
	// The page may load players from a public CDN (answered from node_modules
	// when the version matches) and must reach nothing else off loopback.
	cdn := "https://cdn.jsdelivr.net/npm/hls.js@" + NPMVersion(t, "hls.js") + "/dist/hls.min.js"
	probe := `Promise.all([
		fetch("` + cdn + `").then(r => r.status, e => "error"),
		fetch("https://example.com/").then(r => r.status, e => "error"),
	]).then(a => a.join(","))`
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := StartFileStream(t, tc.format, "test", Source{}, 3)
			r := Play(t, PlayOptions{
				Player: tc.format, URL: fs.URL, Duration: 4 * time.Second,
				CrossOrigin: tc.crossOrigin, LowLatency: tc.lowLatency, Eval: probe,
			})
			t.Log(r.Summary())
			if !r.Started {
				t.Fatalf("never started playing; errors %v; harness %v; console:\n%s", r.Errors, r.HarnessErrors, strings.Join(r.Console, "\n"))
			}
			if r.Played < 4 || r.Advance < 3.5 {
				t.Errorf("played %.2fs (currentTime advanced %.2fs) in %v, want >= 4s", r.Played, r.Advance, r.Watched)
			}
			for _, e := range r.Errors {
				// A busy machine may make hls.js nudge over a stall; nothing else is expected.
				if e.Fatal || !strings.HasPrefix(e.Details, "buffer") {
					t.Errorf("player error: %v", e)
				} else {
					t.Logf("player warning: %v", e)
				}
			}
			if len(r.HarnessErrors) > 0 {
				t.Errorf("harness errors: %v", r.HarnessErrors)
			}
			if r.Latency <= 0 || r.Latency > 15 {
				t.Errorf("latency %.2fs, want (0, 15]", r.Latency)
			}
			if len(r.Levels) != 1 || r.Levels[0].Height != 180 || r.Level != 0 {
				t.Errorf("levels %+v level %d, want one 180p level playing", r.Levels, r.Level)
			}
			if string(r.Eval) != `"200,error"` {
				t.Errorf("probe (CDN copy, example.com) = %s, want \"200,error\"", r.Eval)
			}
			if len(r.Blocked) != 1 || r.Blocked[0] != "https://example.com/" {
				t.Errorf("blocked %v, want only the probe of example.com", r.Blocked)
			}
			var media int
			for _, req := range r.Requests {
				if strings.HasPrefix(req.URL, fs.Server.URL) && req.Status == 200 {
					media++
				}
			}
			if media < 4 {
				t.Errorf("only %d successful requests to the stream server", media)
			}
		})
	}
}
