package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// LevelStep is one scripted hls.js rendition change.
type LevelStep struct {
	// After is how much media must play after the previous step took effect
	// (its LEVEL_SWITCHED arrived, or 5 s of waiting passed) before this one
	// is applied; the first counts from the start of playback. Media time,
	// not wall time, so a loaded machine does not bunch the steps together.
	After time.Duration
	// Level is "top" (highest bitrate), "bottom" (lowest), "auto" (ABR) or a
	// level index.
	Level string
}

// LevelSwitchOptions describes the page LevelSwitchPage serves.
type LevelSwitchOptions struct {
	// URL is the multivariant playlist to play.
	URL string
	// Start is the level to start on ("top", "bottom", an index; "" = hls.js' choice).
	Start string
	// Steps are applied in order once playback has started.
	Steps []LevelStep
	// Smooth switches with hls.nextLevel (at the next fragment, no buffer
	// flush) instead of hls.currentLevel (immediate: buffer flushed).
	Smooth bool
	// LowLatency turns on hls.js lowLatencyMode.
	LowLatency bool
	// HLSConfig is merged into the hls.js config (e.g. {"debug": true}, whose
	// log lands in PlayResult.Console).
	HLSConfig map[string]any
}

// LevelSwitchEval is the PlayOptions.Eval expression that returns a
// LevelSwitchLog from a LevelSwitchPage. It first waits (up to 30 s) until
// every step was applied and the last one took effect, so a slow machine
// does not end the watch in the middle of the script.
const LevelSwitchEval = `new Promise((resolve) => {
  const t0 = performance.now();
  const check = () => {
    const l = window.__levels;
    if ((l && l.done) || performance.now() - t0 > 30000) resolve(l);
    else setTimeout(check, 100);
  };
  check();
})`

// LevelSwitchLog is what the page recorded; decode PlayResult.Eval into it.
type LevelSwitchLog struct {
	// Requests are the steps as applied.
	Requests []LevelSwitchEvent `json:"requests"`
	// Switched are hls.js LEVEL_SWITCHED events.
	Switched []LevelSwitchEvent `json:"switched"`
	// Levels is the number of levels hls.js parsed.
	Levels int `json:"levels"`
	// Done is set once every step was applied and the last one took effect
	// (or 5 s passed waiting for it).
	Done bool `json:"done"`
}

// LevelSwitchEvent is one request or switch, with the playback position then.
type LevelSwitchEvent struct {
	Level       int     `json:"level"`
	CurrentTime float64 `json:"currentTime"`
	AtMs        float64 `json:"atMs"`
}

// LevelSwitchPage serves (on its own loopback server, so the stream's CORS
// headers are exercised) a page that plays opts.URL with hls.js from the
// public CDN URL of the installed version (play.mjs answers it from
// node_modules) and changes renditions on a script. Open it with
// Play(PageURL: …, Eval: LevelSwitchEval).
func LevelSwitchPage(t testing.TB, opts LevelSwitchOptions) string {
	t.Helper()
	version := NPMVersion(t, "hls.js")
	type step struct {
		AfterMs int64  `json:"afterMs"`
		Level   string `json:"level"`
	}
	steps := []step{}
	for _, s := range opts.Steps {
		steps = append(steps, step{s.After.Milliseconds(), s.Level})
	}
	cfg, _ := json.Marshal(map[string]any{
		"url": opts.URL, "start": opts.Start, "steps": steps, "smooth": opts.Smooth, "lowLatency": opts.LowLatency,
		"hlsConfig": opts.HLSConfig,
	})
	page := fmt.Sprintf(levelSwitchHTML, version, cfg)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(page))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/levels.html"
}

const levelSwitchHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>level switch</title></head>
<body style="margin:0;background:#000">
<video id="v" muted autoplay playsinline style="width:640px;height:360px"></video>
<script src="https://cdn.jsdelivr.net/npm/hls.js@%s/dist/hls.min.js"></script>
<script>
(function (cfg) {
  const v = document.getElementById('v');
  const log = (window.__levels = { requests: [], switched: [], levels: 0, done: false });
  const hls = new Hls(Object.assign({ lowLatencyMode: cfg.lowLatency }, cfg.hlsConfig || {}));
  window.hls = hls; // the harness hooks it for errors and metrics
  const resolve = (l) => {
    const n = hls.levels.length;
    let best = 0;
    if (l === 'auto') return -1;
    if (l === 'top' || l === 'bottom') {
      for (let i = 1; i < n; i++) {
        const b = hls.levels[i].bitrate, c = hls.levels[best].bitrate;
        if ((l === 'top' && b > c) || (l === 'bottom' && b < c)) best = i;
      }
      return best;
    }
    return parseInt(l, 10);
  };
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    log.levels = hls.levels.length;
    if (cfg.start) hls.startLevel = resolve(cfg.start);
    v.play().catch(() => {});
  });
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => {
    log.switched.push({ level: d.level, currentTime: v.currentTime, atMs: performance.now() });
  });
  let started = false, idx = 0, fromCT = 0, waitingFor = null, lastSwitched = null, askedAt = 0;
  hls.on(Hls.Events.LEVEL_SWITCHED, (_, d) => { lastSwitched = d.level; });
  const tick = () => {
    const now = performance.now();
    if (waitingFor !== null) {
      if (lastSwitched !== waitingFor && now - askedAt < 5000) return;
      waitingFor = null;
      fromCT = v.currentTime;
    }
    if (idx >= cfg.steps.length) {
      log.done = true;
      return;
    }
    const s = cfg.steps[idx];
    if (v.currentTime - fromCT < s.afterMs / 1000) return;
    const level = resolve(s.level);
    log.requests.push({ level, currentTime: v.currentTime, atMs: now });
    idx++;
    waitingFor = level;
    askedAt = now;
    if (cfg.smooth) hls.nextLevel = level; else hls.currentLevel = level;
  };
  v.addEventListener('playing', () => {
    if (started) return;
    started = true;
    fromCT = v.currentTime;
    setInterval(tick, 50);
  });
  hls.attachMedia(v);
  hls.loadSource(cfg.url);
})(%s);
</script>
</body></html>`
