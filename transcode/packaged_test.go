package transcode_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/ingest/rtmp"
	"github.com/livecdn/livecdn/internal/testenv"
	"github.com/livecdn/livecdn/origin"
	"github.com/livecdn/livecdn/transcode"
)

// TestPackagedLadder runs the whole chain in one process: RTMP → transcoder
// (default ladder) → origin packager → HTTP. Every rung is probed for its
// resolution and bitrate, segment boundaries must carry the same PTS in every
// rendition, and hls.js switches renditions by force during playback
// without stalling.
func TestPackagedLadder(t *testing.T) {
	testenv.NeedFFmpeg(t)
	logs := &ingesttest.Logs{}
	log := logs.Logger()
	ocfg := origin.DefaultConfig()
	ocfg.Logger = log
	ocfg.DataDir = t.TempDir() // the session counters that make a re-publish a discontinuity
	o := origin.New(ocfg)
	ladder := transcode.DefaultLadder()
	tc := transcode.New(transcode.Config{Ladder: ladder, Logger: log, MinSpeed: -1, RestartBackoff: 200 * time.Millisecond,
		SegmentTarget: ocfg.Packaging.SegmentTarget}, o)
	hub := ingest.NewHub(ingest.HubConfig{Handler: tc, Logger: log})
	srv, err := rtmp.New(rtmp.Config{Addr: "127.0.0.1:0", Logger: log}, hub)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(o)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		tc.Close()
		hs.Close()
		o.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	// A richer source than the default 300k, so the 360p rung has detail to spend its bits on.
	testenv.PublishSource(t, testenv.Source{Size: "640x360", Realtime: true, Extra: []string{"-b:v", "1500k"}},
		"flv", fmt.Sprintf("rtmp://%s/live/abr", srv.Addr()))
	base := hs.URL + "/live/abr"

	// Every rendition lists a few complete segments.
	rungs := map[string]transcode.Rung{}
	for _, r := range ladder.Plan(640, 360) {
		rungs[r.Name] = r
	}
	video := []string{"source", "360p", "240p"}
	media := map[string]*playlist.Media{}
	for _, name := range append(video, "audio") {
		media[name] = waitSegments(t, base+"/"+name+"/index.m3u8", 4, 60*time.Second)
	}
	var mv playlist.Multivariant
	if err := mv.Unmarshal(mustGet(t, base+"/index.m3u8")); err != nil {
		t.Fatal(err)
	}
	for _, v := range mv.Variants {
		t.Logf("variant %s: BANDWIDTH=%d RESOLUTION=%s CODECS=%v", v.URI, v.Bandwidth, v.Resolution, v.Codecs)
	}
	checkVariants(t, &mv)
	// DASH: the three video rungs are Representations of one AdaptationSet.
	mpdXML := string(mustGet(t, base+"/manifest.mpd"))
	if strings.Count(mpdXML, "<AdaptationSet") != 2 || !contains(mpdXML, `id="source"`, `id="360p"`, `id="240p"`, `id="audio"`, `width="426"`) {
		t.Errorf("MPD lacks the ladder:\n%s", mpdXML)
	}

	// Segments complete in every video rendition (the rungs trail the
	// source by ffmpeg's latency, so take the newest common ones).
	media = map[string]*playlist.Media{}
	for _, name := range video {
		media[name] = waitSegments(t, base+"/"+name+"/index.m3u8", 4, 30*time.Second)
	}
	common := commonMSNs(media)
	if len(common) < 3 {
		t.Fatalf("only %d segments common to every rendition", len(common))
	}
	common = common[len(common)-3:]
	starts := map[int][]float64{}
	for _, name := range video {
		m := media[name]
		init := mustGet(t, base+"/"+name+"/"+m.Map.URI)
		var all []byte
		all = append(all, init...)
		for _, msn := range common {
			seg := mustGet(t, base+"/"+name+"/"+m.Segments[msn-m.MediaSequence].URI)
			all = append(all, seg...)
			ps := testenv.FFprobePackets(t, writeTemp(t, append(append([]byte(nil), init...), seg...)), "v:0")
			if len(ps) == 0 || !ps[0].Key {
				t.Fatalf("%s segment %d does not start with a keyframe", name, msn)
			}
			starts[msn] = append(starts[msn], ps[0].PTS)
		}
		file := writeTemp(t, all)
		pr := testenv.FFprobe(t, file)
		v := pr.Codec("video")
		ps := testenv.FFprobePackets(t, file, "v:0")
		bytes := 0
		for _, p := range ps {
			bytes += p.Size
		}
		dur := ps[len(ps)-1].PTS - ps[0].PTS + 1.0/30
		kbps := float64(bytes) * 8 / dur / 1000
		t.Logf("%s: %dx%d, %.0f kbit/s over %.2fs (segments %v)", name, v.Width, v.Height, kbps, dur, common)
		want := rungs[name]
		if v.Width != want.Width || v.Height != want.Height {
			t.Errorf("%s is %dx%d, want %dx%d", name, v.Width, v.Height, want.Width, want.Height)
		}
		if !want.Passthrough {
			if target := float64(want.VideoBitrate) / 1000; math.Abs(kbps-target) > 0.25*target {
				t.Errorf("%s: %.0f kbit/s, want %.0f ± 25%%", name, kbps, target)
			}
		}
	}
	for _, msn := range common {
		s := starts[msn]
		for i := range s {
			if math.Abs(s[i]-s[0]) > 0.0005 {
				t.Errorf("segment %d starts at %v in %v: not aligned", msn, s, video)
				break
			}
		}
	}
	t.Logf("segment start PTS per MSN (source, 360p, 240p): %v", starts)

	// hls.js: start on the top rendition, force hls.currentLevel down and up
	// twice. Standard (not low-latency) mode, because hls.js 1.7.4's LL mode
	// stalls on this intermittently (bufferStalledError in 3 of 5 runs here)
	// for reasons in the player, seen in its debug log
	// (LevelSwitchOptions.HLSConfig {"debug": true}); the renditions' parts
	// carry the same MSN, index and PTS, INDEPENDENT=YES on each keyframe
	// part and on every audio part, and rendition reports are present.
	//  1. An immediate switch flushes the video buffer; LL hls.js refills it
	//     from the segment's independent first part, one request per part,
	//     while only ~1.3 s of latency separates the playhead from the live
	//     edge: "Loading main sn: 8 part: 0 … target: 17.84", then "Playback
	//     stalling at @17.87 … buffered 16–16.2", "not stuck anymore after
	//     520ms".
	//  2. Its audio stream controller sometimes never requests the short last
	//     part of an audio segment (part9.10, 0.08 s, listed in the playlist;
	//     the request log goes part9.9 → part10.0), leaving an audio hole
	//     before the segment boundary: "Playback stalling at @19.88 …
	//     end 19.925333" (an AAC frame boundary), then a nudge or a seek over
	//     the hole. The short tail is inherent: 2 s of 1024-sample AAC frames
	//     at 48 kHz is not a whole number of 0.2 s parts.
	// With "-tune zerolatency" (rungs no longer trail the source) it still
	// happens, so the rungs' ffmpeg latency is not the cause. Smooth
	// switching (hls.nextLevel) plays through in LL mode.
	page := testenv.LevelSwitchPage(t, testenv.LevelSwitchOptions{
		URL: base + "/index.m3u8", Start: "top",
		Steps: []testenv.LevelStep{{After: 2 * time.Second, Level: "bottom"}, {After: 2 * time.Second, Level: "top"},
			{After: 2 * time.Second, Level: "bottom"}, {After: 2 * time.Second, Level: "top"}},
	})
	res := testenv.Play(t, testenv.PlayOptions{PageURL: page, Duration: 12 * time.Second, Eval: testenv.LevelSwitchEval})
	t.Log(res.Summary())
	var sw testenv.LevelSwitchLog
	if err := json.Unmarshal(res.Eval, &sw); err != nil {
		t.Fatalf("eval %s: %v", res.Eval, err)
	}
	t.Logf("level requests %+v; switched %+v", sw.Requests, sw.Switched)
	if !res.Started || res.Played < 9 {
		t.Errorf("played %.1fs (started %v), want ≥ 9s", res.Played, res.Started)
	}
	for _, e := range res.Errors {
		// hls.js caps blocking playlist reloads at 0.8 target durations and
		// sometimes asks for a part further ahead (levelLoadTimeOut,
		// audioTrackLoadTimeOut, then a plain reload): the origin does that
		// without a transcoder too. Media errors (bufferStalledError, …) fail.
		if e.Fatal || e.Type != "networkError" {
			t.Errorf("player error: %s", e)
		} else {
			t.Logf("player reported: %s", e)
		}
	}
	if res.Stalls > 0 {
		// Without a bufferStalledError this is the page starving for CPU
		// (seen only on an overloaded machine); logged, not failed.
		t.Logf("the video element waited %d times for %v", res.Stalls, res.StallTime)
	}
	if sw.Levels != 3 || len(sw.Requests) != 4 || !sw.Done {
		t.Fatalf("%d levels, %d switch requests (done %v); want 3 and 4", sw.Levels, len(sw.Requests), sw.Done)
	}
	last := -1.0
	for _, r := range sw.Requests {
		if r.CurrentTime <= last {
			t.Errorf("currentTime did not advance between switches: %+v", sw.Requests)
		}
		last = r.CurrentTime
	}
	if res.CurrentTime <= last+0.5 {
		t.Errorf("currentTime %.2f after the last switch at %.2f", res.CurrentTime, last)
	}
	for _, want := range sw.Requests {
		found := false
		for _, s := range sw.Switched {
			found = found || (s.Level == want.Level && s.AtMs >= want.AtMs)
		}
		if !found {
			t.Errorf("no switch to level %d after the request at %.0fms", want.Level, want.AtMs)
		}
	}

	// Kill ffmpeg: the rungs come back after a discontinuity, and so does the
	// source, whose last segment before it is whole (the switch waits for a
	// keyframe, so the passthrough rendition loses nothing).
	pid := tc.PIDs()["abr"]
	if pid == 0 {
		t.Fatal("no ffmpeg pid")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for _, name := range video {
		var m *playlist.Media
		testenv.Eventually(t, 60*time.Second, name+": a discontinuity and a segment after it", func() bool {
			m = waitSegments(t, base+"/"+name+"/index.m3u8", 1, 10*time.Second)
			for i, seg := range m.Segments {
				if seg.Discontinuity && i > 0 && i < len(m.Segments)-1 {
					if prev := m.Segments[i-1].Duration; name == "source" && (prev < 1900*time.Millisecond || prev > 2100*time.Millisecond) {
						t.Errorf("source segment before the discontinuity lasts %v, want a whole 2 s GOP", prev)
					}
					return true
				}
			}
			return false
		})
	}
}

// checkVariants: one variant per video rendition with its size and the
// codecs of the actual bitstreams (rungs are H.264 Main).
func checkVariants(t *testing.T, mv *playlist.Multivariant) {
	t.Helper()
	want := map[string]string{"source/index.m3u8": "640x360", "360p/index.m3u8": "640x360", "240p/index.m3u8": "426x240"}
	if len(mv.Variants) != len(want) {
		t.Fatalf("%d variants, want %d", len(mv.Variants), len(want))
	}
	for _, v := range mv.Variants {
		if want[v.URI] != v.Resolution {
			t.Errorf("variant %s RESOLUTION=%s, want %s", v.URI, v.Resolution, want[v.URI])
		}
		if v.URI != "source/index.m3u8" && (len(v.Codecs) != 2 || !strings.HasPrefix(v.Codecs[0], "avc1.4d")) {
			t.Errorf("variant %s CODECS=%v, want avc1.4dXXXX (Main) and audio", v.URI, v.Codecs)
		}
		if len(v.Codecs) != 2 || v.Codecs[1] != "mp4a.40.2" {
			t.Errorf("variant %s CODECS=%v, want mp4a.40.2 audio", v.URI, v.Codecs)
		}
		if v.FrameRate == nil || math.Abs(*v.FrameRate-30) > 0.1 {
			t.Errorf("variant %s FRAME-RATE=%v, want 30", v.URI, fmtPtr(v.FrameRate))
		}
	}
}

// commonMSNs returns the media sequence numbers of the complete segments
// every playlist lists.
func commonMSNs(ms map[string]*playlist.Media) []int {
	lo, hi := -1, math.MaxInt
	for _, m := range ms {
		lo = max(lo, m.MediaSequence)
		hi = min(hi, m.MediaSequence+len(m.Segments)-1)
	}
	var out []int
	for msn := lo; msn <= hi; msn++ {
		out = append(out, msn)
	}
	return out
}

// waitSegments is testenv.WaitSegments.
var waitSegments = testenv.WaitSegments

// get is testenv.Get.
var get = testenv.Get

func mustGet(t *testing.T, url string) []byte {
	t.Helper()
	code, b := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, b)
	}
	return b
}

func writeTemp(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "media-*.mp4")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	return filepath.Clean(f.Name())
}

func fmtPtr(f *float64) string {
	if f == nil {
		return "none"
	}
	return fmt.Sprint(*f)
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
