package transcode_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

// ladderOrigin is `livecdn origin --ladder default` on free loopback ports
// with one realtime RTMP publisher, once every rendition serves segments.
type ladderOrigin struct {
	*testenv.Process
	base       string   // http://…/live/{stream}
	renditions []string // the video variants' and the audio rendition's names
}

func startLadderOrigin(t *testing.T, stream string) *ladderOrigin {
	t.Helper()
	testenv.NeedFFmpeg(t)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rtmpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.Start(t, httpAddr, "origin", "--http", httpAddr, "--rtmp", rtmpAddr, "--rtsp", "", "--srt", "",
		"--archive", t.TempDir(), "--ladder", "default", "--drain", "2s")
	// 240 lines: the default ladder keeps its 240p rung (an equal height is
	// kept, taller rungs are dropped), so ffmpeg runs one small encode.
	testenv.PublishSource(t, testenv.Source{Size: "426x240", Realtime: true}, "flv", "rtmp://"+rtmpAddr+"/live/"+stream)
	o := &ladderOrigin{Process: p, base: p.HTTP + "/live/" + stream}
	testenv.Eventually(t, 60*time.Second, "multivariant playlist with two variants", func() bool {
		code, b := get(t, o.base+"/index.m3u8")
		var mv playlist.Multivariant
		if code != 200 || mv.Unmarshal(b) != nil || len(mv.Variants) < 2 {
			return false
		}
		o.renditions = o.renditions[:0]
		for _, v := range mv.Variants {
			o.renditions = append(o.renditions, strings.TrimSuffix(v.URI, "/index.m3u8"))
		}
		o.renditions = append(o.renditions, "audio")
		return true
	})
	for _, r := range o.renditions {
		waitSegments(t, o.base+"/"+r+"/index.m3u8", 2, 60*time.Second)
	}
	return o
}

// ffmpegChildren returns the pids of the origin's ffmpeg children.
func (o *ladderOrigin) ffmpegChildren() []int {
	var pids []int
	for _, c := range testenv.Children(o.PID(), "ffmpeg") {
		pids = append(pids, c.PID)
	}
	return pids
}

// stopAndCheck sends SIGTERM to the origin, expects a clean exit, and then
// that none of pids exists any more, not even as a zombie.
func (o *ladderOrigin) stopAndCheck(t *testing.T, pids []int) {
	t.Helper()
	if err := o.Stop(20 * time.Second); err != nil {
		t.Fatalf("origin after SIGTERM: %v", err)
	}
	for _, pid := range pids {
		if st, ok := testenv.ReadProc(pid); ok {
			t.Errorf("ffmpeg %d outlived the origin: %+v", pid, st)
		}
	}
}

// TestOriginSIGTERMEndsFFmpeg: the real binary with the default ladder runs
// one ffmpeg per stream as its child; SIGTERM of the origin ends and reaps it.
func TestOriginSIGTERMEndsFFmpeg(t *testing.T) {
	o := startLadderOrigin(t, "term")
	pids := o.ffmpegChildren()
	if len(pids) != 1 {
		t.Fatalf("ffmpeg children of the origin: %v, want one", pids)
	}
	t.Logf("renditions %v, ffmpeg pid %d", o.renditions, pids[0])
	o.stopAndCheck(t, pids)
}

// TestOriginRestartsKilledFFmpeg: SIGKILL of the ffmpeg child mid-stream
// gets it restarted, the rungs continue after a discontinuity, and SIGTERM
// of the origin then leaves neither the killed nor the new ffmpeg behind.
func TestOriginRestartsKilledFFmpeg(t *testing.T) {
	o := startLadderOrigin(t, "kill")
	pids := o.ffmpegChildren()
	if len(pids) != 1 {
		t.Fatalf("ffmpeg children of the origin: %v, want one", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var next []int
	testenv.Eventually(t, 30*time.Second, "a new ffmpeg child", func() bool {
		next = o.ffmpegChildren()
		return len(next) == 1 && next[0] != pids[0]
	})
	testenv.Eventually(t, 5*time.Second, fmt.Sprintf("the killed ffmpeg %d reaped", pids[0]), func() bool {
		_, ok := testenv.ReadProc(pids[0])
		return !ok
	})
	for _, r := range o.renditions {
		testenv.Eventually(t, 60*time.Second, r+": a discontinuity with a segment after it", func() bool {
			m := waitSegments(t, o.base+"/"+r+"/index.m3u8", 1, 10*time.Second)
			for i, seg := range m.Segments {
				if seg.Discontinuity && i < len(m.Segments)-1 {
					return true
				}
			}
			return false
		})
	}
	t.Logf("ffmpeg %d killed, %d took over", pids[0], next[0])
	o.stopAndCheck(t, append(pids, next...))
}

// TestPlayerContinuesAcrossFFmpegRestart: hls.js plays the transcoded 240p
// rung while its ffmpeg is killed by pid; the rung comes back after a
// discontinuity and the player plays on across it.
func TestPlayerContinuesAcrossFFmpegRestart(t *testing.T) {
	testenv.NeedBrowser(t)
	o := startLadderOrigin(t, "play")
	pids := o.ffmpegChildren()
	if len(pids) != 1 {
		t.Fatalf("ffmpeg children of the origin: %v, want one", pids)
	}
	rung := ""
	for _, r := range o.renditions {
		if r != "source" && r != "audio" {
			rung = r
		}
	}
	if rung == "" {
		t.Fatalf("no transcoded rung among %v", o.renditions)
	}
	killed := make(chan time.Time, 1)
	go func() {
		time.Sleep(4 * time.Second) // into playback (startup is ~2 s)
		syscall.Kill(pids[0], syscall.SIGKILL)
		killed <- time.Now()
	}()
	res := testenv.Play(t, testenv.PlayOptions{Player: "hls", URL: o.base + "/" + rung + "/index.m3u8", Duration: 16 * time.Second})
	<-killed
	t.Logf("%s across the ffmpeg kill: %s", rung, res.Summary())
	if !res.Started || res.Played < 15 || res.Advance < 15 || len(res.FatalErrors()) > 0 {
		t.Errorf("the player did not continue across the restart: played %.1fs, advanced %.1fs, fatal %v",
			res.Played, res.Advance, res.FatalErrors())
	}
	m := waitSegments(t, o.base+"/"+rung+"/index.m3u8", 1, 10*time.Second)
	disc := false
	for _, s := range m.Segments {
		disc = disc || s.Discontinuity
	}
	if !disc && (m.DiscontinuitySequence == nil || *m.DiscontinuitySequence == 0) {
		t.Errorf("no discontinuity in %s after the kill", rung)
	}
}
