package transcode

import (
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/livecdn/livecdn/internal/testenv"
)

// TestLadderThroughFFmpeg publishes 640x360 over RTMP through the default
// ladder: the origin side sees source+360p+240p+audio with the right SPS,
// every rung's keyframes sit on the source's keyframe PTS, a killed ffmpeg
// is restarted into a new session, and Close leaves no ffmpeg behind.
func TestLadderThroughFFmpeg(t *testing.T) {
	t.Parallel()
	e := newEnv(t, Config{Ladder: DefaultLadder(), RestartBackoff: 200 * time.Millisecond, MinSpeed: -1})
	testenv.PublishSource(t, testenv.Source{Size: "640x360", Realtime: true}, "flv", e.url("ladder"))

	first := e.rec.WaitStream(t, "ladder", 20*time.Second)
	if got, want := trackNames(first), []string{"source", "360p", "240p", "audio"}; !slices.Equal(got, want) {
		t.Fatalf("renditions %v, want %v", got, want)
	}
	for i, want := range [][2]int{{640, 360}, {640, 360}, {426, 240}} {
		if w, h := spsSize(t, first.Tracks[i]); w != want[0] || h != want[1] {
			t.Errorf("%s: SPS says %dx%d, want %dx%d", first.Tracks[i].Name, w, h, want[0], want[1])
		}
	}
	if _, ok := first.Tracks[3].Codec.(*codecs.MPEG4Audio); !ok {
		t.Errorf("audio is %T, want the source's AAC passed through", first.Tracks[3].Codec)
	}
	waitMedia(t, first, 2, 6*time.Second, 30*time.Second)

	// Alignment: over the span every rung covers, the keyframes are the
	// source's, PTS for PTS, and every rung frame carries a source PTS.
	src := first.TrackUnits(0)
	srcPTS := map[int64]bool{}
	for _, u := range src {
		srcPTS[u.PTS] = true
	}
	for i := 1; i <= 2; i++ {
		rung := first.TrackUnits(i)
		lo, hi := span(rung)
		want, got := keyPTS(src, lo, hi), keyPTS(rung, lo, hi)
		if len(want) < 3 || !slices.Equal(got, want) {
			t.Errorf("%s keyframes %v, want the source's %v", first.Tracks[i].Name, got, want)
		}
		if !rung[0].Key {
			t.Errorf("%s starts without a keyframe", first.Tracks[i].Name)
		}
		for j, u := range rung {
			if !srcPTS[u.PTS] {
				t.Fatalf("%s frame %d has PTS %d, which no source frame has", first.Tracks[i].Name, j, u.PTS)
			}
			if j > 0 && u.DTS <= rung[j-1].DTS {
				t.Fatalf("%s DTS not rising at %d", first.Tracks[i].Name, j)
			}
		}
	}

	// How far the rungs trail the source (ffmpeg's latency), for the record.
	srcAt := map[int64]time.Time{}
	for _, u := range src {
		srcAt[u.PTS] = u.Received
	}
	var lat []time.Duration
	for _, u := range first.TrackUnits(2) {
		lat = append(lat, u.Received.Sub(srcAt[u.PTS]))
	}
	slices.Sort(lat)
	t.Logf("240p frames arrive %v after their source frame (median; p90 %v)", lat[len(lat)/2].Round(time.Millisecond),
		lat[len(lat)*9/10].Round(time.Millisecond))

	// Kill ffmpeg: the passthrough rung keeps flowing, a restarted ffmpeg
	// joins in a new session (the origin's discontinuity).
	pid := e.tc.PIDs()["ladder"]
	if pid == 0 {
		t.Fatal("no ffmpeg pid")
	}
	before := first.NumUnits()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	second := e.rec.WaitStreams(t, 2, 20*time.Second)[1]
	if !first.Closed() {
		t.Error("first session still open after the switch")
	}
	if first.NumUnits() <= before {
		t.Error("no units reached the first session after the kill")
	}
	if got := trackNames(second); !slices.Equal(got, trackNames(first)) {
		t.Fatalf("after restart renditions %v", got)
	}
	waitMedia(t, second, 2, 2*time.Second, 20*time.Second)
	if u := second.TrackUnits(0); len(u) == 0 || !u[0].Key {
		t.Error("new session does not start on a source keyframe")
	}
	pid2 := e.tc.PIDs()["ladder"]
	if pid2 == 0 || pid2 == pid {
		t.Fatalf("pid after restart %d (was %d)", pid2, pid)
	}
	if !gone(pid) {
		t.Errorf("killed ffmpeg %d still exists (zombie?)", pid)
	}

	e.tc.Close()
	if !gone(pid2) {
		t.Errorf("ffmpeg %d survives Close", pid2)
	}
	if len(e.tc.PIDs()) != 0 {
		t.Errorf("PIDs after Close: %v", e.tc.PIDs())
	}
}

// TestSlowRestart: an ffmpeg slower than MinSpeed for SlowFor is restarted
// (here: an impossible MinSpeed), with its metrics exported.
func TestSlowRestart(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	l := &Ladder{Source: "t", Audio: Audio{Name: AudioName}, Rungs: []Rung{
		{Name: SourceName, Passthrough: true}, withDefaults(Rung{Name: "120p", Height: 120, VideoBitrate: 150000})}}
	e := newEnv(t, Config{Ladder: l, MinSpeed: 100, SlowFor: 2 * time.Second, RestartBackoff: 100 * time.Millisecond, Registerer: reg})
	testenv.PublishSource(t, testenv.Source{Realtime: true}, "flv", e.url("slow"))
	e.rec.WaitStreams(t, 2, 30*time.Second)
	var m dto.Metric
	if err := e.tc.m.restarts.WithLabelValues("slow", "slow").Write(&m); err != nil || m.GetCounter().GetValue() < 1 {
		t.Errorf("restarts{reason=slow} = %v (%v)", m.GetCounter().GetValue(), err)
	}
	if !strings.Contains(e.logs.String(), "reason=slow") {
		t.Error("no slow restart logged")
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, mf := range mfs {
		have[mf.GetName()] = true
	}
	for _, name := range []string{"livecdn_transcode_speed", "livecdn_transcode_fps", "livecdn_transcode_lag_seconds",
		"livecdn_transcode_restarts_total", "livecdn_transcode_processes", "livecdn_transcode_ffmpeg_speed"} {
		if !have[name] {
			t.Errorf("metric %s not exported", name)
		}
	}
}
