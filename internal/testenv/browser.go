package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Chromium is the browser the harness drives: Debian's package (the test
// script installs it). LIVECDN_CHROMIUM overrides it.
const Chromium = "/usr/bin/chromium"

// PlayOptions says what Play opens and for how long it watches.
type PlayOptions struct {
	// Player is "hls" (hls.js, the default) or "dash" (dash.js), for the
	// built-in player page.
	Player string
	// URL is the multivariant playlist or MPD the built-in page plays.
	URL string
	// PageURL, when set, opens this page (served by us, e.g. the watch page)
	// instead of the built-in one. The page's first <video> is measured;
	// player metrics need the page to store its player in window.hls (hls.js)
	// or window.dashPlayer (dash.js) right after creating it.
	PageURL string
	// Duration is how much media to play (default 5 s): Play watches until
	// PlayResult.Played and Advance both reach it, or MaxWatch has passed
	// since the start.
	Duration time.Duration
	// MaxWatch bounds the watching after the start (default 2*Duration+10 s);
	// a loaded machine plays slower than real time, a broken stream not at all.
	MaxWatch time.Duration
	// StartTimeout bounds the wait for the first frame (default 20 s).
	StartTimeout time.Duration
	// LowLatency turns on hls.js lowLatencyMode, or dash.js live catch-up with
	// a 2 s target delay.
	LowLatency bool
	// CrossOrigin serves the built-in page from another loopback port than
	// the stream, so the stream server's CORS headers are exercised. Off, the
	// page is injected on the stream's own origin (under /__livecdn/).
	CrossOrigin bool
	// HLSConfig is merged into the hls.js config (e.g. {"cmcd": {}}).
	HLSConfig map[string]any
	// DashSettings is merged (deeply) into dash.js settings.
	DashSettings map[string]any
	// Eval is a JavaScript expression evaluated in the page after watching;
	// its JSON value is returned in PlayResult.Eval.
	Eval string
	// Screenshot, when set, is a PNG path written after watching.
	Screenshot string
}

// PlayerError is one error event seen in the page.
type PlayerError struct {
	// Source is "hls" (hls.js ERROR event), "dash" (dash.js error or
	// playbackError), "video" (the media element's error) or "harness".
	Source string `json:"source"`
	// Type and Details are hls.js' error type/details, dash.js' event name
	// and error code, or the MediaError code.
	Type    string `json:"type"`
	Details string `json:"details"`
	// Fatal is hls.js' fatal flag; dash.js and media element errors are fatal.
	Fatal   bool   `json:"fatal"`
	Message string `json:"message"`
	// AtMs is the time since navigation started.
	AtMs float64 `json:"atMs"`
}

func (e PlayerError) String() string {
	f := ""
	if e.Fatal {
		f = " (fatal)"
	}
	return fmt.Sprintf("%s %s %s%s: %s", e.Source, e.Type, e.Details, f, e.Message)
}

// Level is one rendition the player offers.
type Level struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate int    `json:"bitrate"` // bits per second, as declared
	Codecs  string `json:"codecs"`
	Name    string `json:"name"`
}

// Request is one request the page made (loopback, or answered by the harness).
type Request struct {
	Method  string `json:"method"`
	URL     string `json:"url"`
	Status  int    `json:"status"`            // 0 when it failed
	Failure string `json:"failure,omitempty"` // Chromium's error text
}

// PlayResult is what Play measured. Times in seconds are media time.
type PlayResult struct {
	// Started is true once the video element fired "playing".
	Started bool
	// StartTime is from navigation start to the first "playing" event
	// (page and player load, manifest, first segments, decode).
	StartTime time.Duration
	// Watched is the wall time from the first "playing" event to the end.
	Watched time.Duration
	// Played is the media time actually played: the sum of video.played ranges.
	Played float64
	// Advance is how far currentTime moved since the first "playing" event
	// (includes seeks and catch-up jumps, unlike Played).
	Advance float64
	// CurrentTime is video.currentTime at the end.
	CurrentTime float64
	// Paused and ReadyState are the video element's state at the end.
	Paused     bool
	ReadyState int
	// Buffer is the seconds buffered ahead of currentTime at the end.
	Buffer float64
	// Errors lists the player and media errors, in order.
	Errors []PlayerError
	// HarnessErrors lists page exceptions, failed evals, CDN URLs whose
	// version differs from node_modules and the like.
	HarnessErrors []string
	// Stalls counts "waiting" events after playback had started; StallTime
	// is how long playback waited in total.
	Stalls    int
	StallTime time.Duration
	// Latency is the live latency in seconds last measured (hls.js
	// hls.latency, dash.js getCurrentLiveLatency()), sampled every 250 ms
	// after the start; LatencyAvg and LatencyMax summarize the samples.
	// All are 0 when the player reported none.
	Latency, LatencyAvg, LatencyMax float64
	LatencySamples                  int
	// Levels are the video renditions the player parsed; Level is the index
	// playing at the end (-1 unknown); LevelSwitches counts switches made.
	Levels        []Level
	Level         int
	LevelSwitches int
	// DroppedFrames and TotalFrames come from getVideoPlaybackQuality().
	DroppedFrames, TotalFrames int
	// Console holds the page's console messages as "type: text".
	Console []string
	// Requests lists the page's requests in completion order (capped at 5000).
	Requests []Request
	// Blocked lists URLs that would have left loopback and were aborted.
	Blocked []string
	// Eval is the JSON value of PlayOptions.Eval.
	Eval json.RawMessage
	// Player is "hls" or "dash" when the page exposed a player object.
	Player string
}

// FatalErrors returns the errors marked fatal.
func (r PlayResult) FatalErrors() []PlayerError {
	var out []PlayerError
	for _, e := range r.Errors {
		if e.Fatal {
			out = append(out, e)
		}
	}
	return out
}

// Summary is a one-line description for test logs.
func (r PlayResult) Summary() string {
	lvl := ""
	if r.Level >= 0 && r.Level < len(r.Levels) {
		l := r.Levels[r.Level]
		lvl = fmt.Sprintf(" level=%d(%dx%d@%dk)", r.Level, l.Width, l.Height, l.Bitrate/1000)
	}
	return fmt.Sprintf("player=%s started=%v start=%v watched=%v played=%.2fs advance=%.2fs buffer=%.2fs latency=%.2fs(avg %.2f, max %.2f, n=%d) stalls=%d/%v errors=%d%s switches=%d dropped=%d/%d requests=%d blocked=%d",
		r.Player, r.Started, r.StartTime.Round(time.Millisecond), r.Watched.Round(time.Millisecond), r.Played, r.Advance, r.Buffer,
		r.Latency, r.LatencyAvg, r.LatencyMax, r.LatencySamples, r.Stalls, r.StallTime.Round(time.Millisecond),
		len(r.Errors), lvl, r.LevelSwitches, r.DroppedFrames, r.TotalFrames, len(r.Requests), len(r.Blocked))
}

// Dir is the directory of this package's sources: package.json, play.mjs and
// node_modules live there.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

func chromiumPath() string {
	if p := os.Getenv("LIVECDN_CHROMIUM"); p != "" {
		return p
	}
	return Chromium
}

// skipOrFail skips outside CI and fails in CI, where a missing tool is a broken setup.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...) + " (scripts/test.sh installs it)"
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// NeedNodeModules skips (fails in CI) unless `npm ci` has run in Dir().
func NeedNodeModules(t testing.TB) {
	t.Helper()
	for _, pkg := range []string{"playwright-core", "hls.js", "dashjs"} {
		if _, err := os.Stat(filepath.Join(Dir(), "node_modules", pkg, "package.json")); err != nil {
			skipOrFail(t, "npm package %s missing in %s/node_modules", pkg, Dir())
		}
	}
}

// NeedBrowser skips (fails in CI) unless node, Chromium and node_modules are there.
func NeedBrowser(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		skipOrFail(t, "node not installed")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		skipOrFail(t, "chromium not installed at %s", chromiumPath())
	}
	NeedNodeModules(t)
}

// NPMFile returns the path of rel inside the installed npm package pkg
// (e.g. NPMFile(t, "hls.js", "dist/hls.min.js")).
func NPMFile(t testing.TB, pkg, rel string) string {
	t.Helper()
	NeedNodeModules(t)
	p := filepath.Join(Dir(), "node_modules", pkg, filepath.FromSlash(rel))
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("npm file: %v", err)
	}
	return p
}

// NPMVersion returns the installed version of npm package pkg.
func NPMVersion(t testing.TB, pkg string) string {
	t.Helper()
	b, err := os.ReadFile(NPMFile(t, pkg, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version string }
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s/package.json: %v", pkg, err)
	}
	return v.Version
}

// Play opens the stream (or page) in headless Chromium, watches it for
// opts.Duration after playback starts and returns what it measured. It fails
// the test only when the harness itself breaks; the caller asserts on the
// result (Started, Played, Errors, ...). Browsers are limited to two at once
// per machine (LIVECDN_BROWSERS overrides) so parallel packages do not starve
// each other's players of CPU.
func Play(t testing.TB, opts PlayOptions) PlayResult {
	t.Helper()
	NeedBrowser(t)
	if opts.Duration <= 0 {
		opts.Duration = 5 * time.Second
	}
	if opts.MaxWatch <= 0 {
		opts.MaxWatch = 2*opts.Duration + 10*time.Second
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 20 * time.Second
	}
	if opts.Player == "" {
		opts.Player = "hls"
	}
	if opts.Player != "hls" && opts.Player != "dash" {
		t.Fatalf("Play: unknown player %q", opts.Player)
	}
	if opts.URL == "" && opts.PageURL == "" {
		t.Fatal("Play: URL or PageURL required")
	}

	release := acquireBrowserSlot(t)
	defer release()

	profile, err := os.MkdirTemp("", "livecdn-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: a straggling Chromium child must not fail the test at cleanup.
	defer os.RemoveAll(profile)

	in, _ := json.Marshal(map[string]any{
		"player": opts.Player, "url": opts.URL, "pageURL": opts.PageURL,
		"durationMs": opts.Duration.Milliseconds(), "maxWatchMs": opts.MaxWatch.Milliseconds(), "startTimeoutMs": opts.StartTimeout.Milliseconds(),
		"lowLatency": opts.LowLatency, "crossOrigin": opts.CrossOrigin,
		"hlsConfig": opts.HLSConfig, "dashSettings": opts.DashSettings,
		"eval": opts.Eval, "screenshot": opts.Screenshot,
		"profileDir": profile, "executablePath": chromiumPath(),
	})
	begin := time.Now()
	stdout, stderr, err := runNode("play.mjs", in, opts.StartTimeout+opts.MaxWatch+60*time.Second)
	if err != nil {
		t.Fatalf("play.mjs (%v, after %v): %v\nstderr:\n%s", opts.Player, time.Since(begin).Round(time.Millisecond), err, stderr.String())
	}

	var raw struct {
		Player         string          `json:"player"`
		Errors         []PlayerError   `json:"errors"`
		HarnessErrors  []string        `json:"harnessErrors"`
		Stalls         int             `json:"stalls"`
		StallMs        float64         `json:"stallMs"`
		StartMs        *float64        `json:"startMs"`
		NowMs          float64         `json:"nowMs"`
		Latency        float64         `json:"latency"`
		LatencyAvg     float64         `json:"latencyAvg"`
		LatencyMax     float64         `json:"latencyMax"`
		LatencySamples int             `json:"latencySamples"`
		LevelSwitches  int             `json:"levelSwitches"`
		Levels         []Level         `json:"levels"`
		Level          int             `json:"level"`
		CurrentTime    float64         `json:"currentTime"`
		Advance        float64         `json:"advance"`
		Played         float64         `json:"played"`
		Buffer         float64         `json:"buffer"`
		Paused         bool            `json:"paused"`
		ReadyState     int             `json:"readyState"`
		DroppedFrames  int             `json:"droppedFrames"`
		TotalFrames    int             `json:"totalFrames"`
		Console        []string        `json:"console"`
		Requests       []Request       `json:"requests"`
		Blocked        []string        `json:"blocked"`
		Eval           json.RawMessage `json:"eval"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &raw); err != nil {
		t.Fatalf("play.mjs output: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	r := PlayResult{
		Player: raw.Player, Errors: raw.Errors, HarnessErrors: raw.HarnessErrors,
		Stalls: raw.Stalls, StallTime: ms(raw.StallMs),
		Latency: raw.Latency, LatencyAvg: raw.LatencyAvg, LatencyMax: raw.LatencyMax, LatencySamples: raw.LatencySamples,
		Levels: raw.Levels, Level: raw.Level, LevelSwitches: raw.LevelSwitches,
		Played: raw.Played, Advance: raw.Advance, CurrentTime: raw.CurrentTime, Buffer: raw.Buffer,
		Paused: raw.Paused, ReadyState: raw.ReadyState,
		DroppedFrames: raw.DroppedFrames, TotalFrames: raw.TotalFrames,
		Console: raw.Console, Requests: raw.Requests, Blocked: raw.Blocked, Eval: raw.Eval,
	}
	if raw.StartMs != nil {
		r.Started = true
		r.StartTime = ms(*raw.StartMs)
		r.Watched = ms(raw.NowMs - *raw.StartMs)
	}
	if stderr.Len() > 0 {
		t.Logf("play.mjs stderr:\n%s", strings.TrimSpace(stderr.String()))
	}
	return r
}

// acquireBrowserSlot takes one of N machine-wide slots (flock on files in the
// temp dir, released by the kernel if the process dies) and returns its release.
func acquireBrowserSlot(t testing.TB) func() {
	t.Helper()
	n := 2
	if v, err := strconv.Atoi(os.Getenv("LIVECDN_BROWSERS")); err == nil && v > 0 {
		n = v
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		for i := 0; i < n; i++ {
			f, err := os.OpenFile(filepath.Join(os.TempDir(), fmt.Sprintf("livecdn-browser-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o666)
			if err != nil {
				t.Fatalf("browser slot: %v", err)
			}
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
				return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
			}
			f.Close()
		}
		if time.Now().After(deadline) {
			t.Fatal("no free browser slot after 10 minutes")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runNode runs one of the harness' node scripts with in on its stdin,
// ended after timeout. SIGTERM lets playwright close Chromium; WaitDelay
// then kills what is left.
func runNode(script string, in []byte, timeout time.Duration) (stdout, stderr *bytes.Buffer, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join(Dir(), script))
	cmd.Dir = Dir()
	cmd.Stdin = bytes.NewReader(in)
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return stdout, stderr, cmd.Run()
}
