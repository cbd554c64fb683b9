package transcode

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/ingest/mpegts"
	"github.com/livecdn/livecdn/internal/testenv"
)

// sourceUnits encodes src with ffmpeg into MPEG-TS and demuxes it the way
// ingest does, returning the tracks and access units a publisher would deliver.
func sourceUnits(t *testing.T, src testenv.Source) ([]*ingest.Track, []ingest.Unit) {
	t.Helper()
	testenv.NeedFFmpeg(t)
	path := filepath.Join(t.TempDir(), "src.ts")
	if out, err := exec.Command("ffmpeg", src.Args("mpegts", path)...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var s ingesttest.Session
	if err := mpegts.Read(context.Background(), f, &s); err != nil {
		t.Fatal(err)
	}
	return s.Tracks(), s.Units()
}

// feed publishes tracks to tc and writes every unit at speed × real time
// (0: as fast as it is taken), then ends the session; Close returns once
// ffmpeg has finished.
func feed(t *testing.T, tc *Transcoder, name string, tracks []*ingest.Track, units []ingest.Unit, speed float64) {
	t.Helper()
	start := time.Now()
	sink, err := tc.Publish(&ingest.Stream{Name: name, Protocol: "file", Tracks: tracks, Started: start})
	if err != nil {
		t.Fatal(err)
	}
	seconds := func(u *ingest.Unit) float64 { return float64(u.DTS) / float64(tracks[u.Track].ClockRate) }
	for i := range units {
		u := units[i]
		if speed > 0 {
			at := (seconds(&u) - seconds(&units[0])) / speed
			time.Sleep(time.Until(start.Add(time.Duration(at * float64(time.Second)))))
		}
		u.Received = time.Now()
		if err := sink.WriteUnit(&u); err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
	}
	sink.Close()
}

func newFeedTranscoder(t *testing.T, cfg Config) (*Transcoder, *ingesttest.Recorder, *ingesttest.Logs) {
	t.Helper()
	rec, logs := ingesttest.NewRecorder(), &ingesttest.Logs{}
	cfg.Logger = logs.Logger()
	if cfg.MinSpeed == 0 {
		cfg.MinSpeed = -1 // fed faster than real time
	}
	cfg.StopTimeout = time.Minute
	tc := New(cfg, rec)
	t.Cleanup(func() {
		tc.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	return tc, rec, logs
}

// TestNoFFmpeg: without ffmpeg the ladder degrades to passthrough, said once.
func TestNoFFmpeg(t *testing.T) {
	t.Parallel()
	tracks, units := sourceUnits(t, testenv.Source{Duration: time.Second})
	tc, rec, logs := newFeedTranscoder(t, Config{Ladder: DefaultLadder(), FFmpegPath: filepath.Join(t.TempDir(), "ffmpeg")})
	feed(t, tc, "a", tracks, units, 0)
	feed(t, tc, "b", tracks, units, 0)
	for _, r := range rec.Streams() {
		if got := trackNames(r); !slices.Equal(got, []string{"source", "audio"}) {
			t.Errorf("%s renditions %v, want source and audio", r.Name, got)
		}
		if r.NumUnits() != len(units) || !r.Closed() {
			t.Errorf("%s: %d units (want %d), closed %v", r.Name, r.NumUnits(), len(units), r.Closed())
		}
	}
	if n := strings.Count(logs.String(), "ffmpeg not available"); n != 1 {
		t.Errorf("said %d times that ffmpeg is missing, want once:\n%s", n, logs.String())
	}
	if len(tc.PIDs()) != 0 {
		t.Error("pids without ffmpeg")
	}
}

// TestPassthroughLadder: a passthrough ladder hands the stream on untouched.
func TestPassthroughLadder(t *testing.T) {
	l, _ := LoadLadder(PresetPassthrough)
	rec := ingesttest.NewRecorder()
	tc := New(Config{Ladder: l, FFmpegPath: "/nonexistent"}, rec)
	defer tc.Close()
	s := &ingest.Stream{Name: "p", Tracks: []*ingest.Track{{ClockRate: 90000, Codec: &codecs.H264{}}}}
	sink, err := tc.Publish(s)
	if err != nil {
		t.Fatal(err)
	}
	if r := rec.Streams()[0]; r.Stream != s || sink != ingest.Sink(r) {
		t.Error("passthrough ladder did not hand the stream on as it is")
	}
}

// TestOpusAudio: Opus audio is re-encoded to AAC by the same ffmpeg, and
// keeps the publisher's clock.
func TestOpusAudio(t *testing.T) {
	t.Parallel()
	tracks, units := sourceUnits(t, testenv.Source{Duration: 4 * time.Second, AudioCodec: "libopus"})
	if _, ok := tracks[1].Codec.(*codecs.Opus); !ok {
		t.Fatalf("source audio is %T", tracks[1].Codec)
	}
	l := &Ladder{Source: "t", Audio: Audio{Name: "sound", Bitrate: 96000}, Rungs: []Rung{
		{Name: SourceName, Passthrough: true}, withDefaults(Rung{Name: "120p", Height: 120, VideoBitrate: 200000})}}
	tc, rec, _ := newFeedTranscoder(t, Config{Ladder: l})
	feed(t, tc, "opus", tracks, units, 0)
	r := rec.WaitStream(t, "opus", time.Second)
	if got := trackNames(r); !slices.Equal(got, []string{"source", "120p", "sound"}) {
		t.Fatalf("renditions %v", got)
	}
	a, ok := r.Tracks[2].Codec.(*codecs.MPEG4Audio)
	if !ok || a.Config.SampleRate != 48000 || r.Tracks[2].ClockRate != 48000 {
		t.Fatalf("audio rendition %#v at %d Hz, want AAC 48 kHz", r.Tracks[2].Codec, r.Tracks[2].ClockRate)
	}
	var src []ingest.Unit
	for _, u := range units {
		if u.Track == 1 {
			src = append(src, u)
		}
	}
	out := r.TrackUnits(2)
	slo, shi := span(src)
	olo, ohi := span(out)
	t.Logf("opus %d frames %.3f-%.3fs, aac %d frames %.3f-%.3fs", len(src), float64(slo)/48000, float64(shi)/48000,
		len(out), float64(olo)/48000, float64(ohi)/48000)
	if d := float64(olo-slo) / 48000; d < -0.05 || d > 0.1 {
		t.Errorf("AAC starts %.3fs from the Opus source", d)
	}
	if got, want := float64(ohi-olo)/48000, float64(shi-slo)/48000; got < want-0.2 {
		t.Errorf("AAC covers %.2fs of %.2fs", got, want)
	}
	for i := 1; i < len(out); i++ {
		if out[i].DTS <= out[i-1].DTS {
			t.Fatalf("AAC timestamps not rising at %d", i)
		}
	}
	if !r.Closed() || len(tc.PIDs()) != 0 {
		t.Errorf("after the stream ended: closed %v, ffmpeg pids %v", r.Closed(), tc.PIDs())
	}
}

// TestNoPassthroughRung: without a passthrough rung the top rung comes first
// (it leads the packager), the source audio is held until it has caught up,
// and every keyframe sits on a source keyframe.
func TestNoPassthroughRung(t *testing.T) {
	t.Parallel()
	tracks, units := sourceUnits(t, testenv.Source{Duration: 4 * time.Second})
	l := &Ladder{Source: "t", Audio: Audio{Name: AudioName}, Rungs: []Rung{
		withDefaults(Rung{Name: "180p", Height: 180, VideoBitrate: 300000}),
		withDefaults(Rung{Name: "120p", Height: 120, VideoBitrate: 150000})}}
	tc, rec, _ := newFeedTranscoder(t, Config{Ladder: l})
	feed(t, tc, "top", tracks, units, 2)
	r := rec.WaitStream(t, "top", time.Second)
	if got := trackNames(r); !slices.Equal(got, []string{"180p", "120p", "audio"}) {
		t.Fatalf("renditions %v", got)
	}
	var srcVideo, srcAudio []ingest.Unit
	for _, u := range units {
		if u.Track == 0 {
			srcVideo = append(srcVideo, u)
		} else {
			srcAudio = append(srcAudio, u)
		}
	}
	for i := 0; i < 2; i++ {
		rung := r.TrackUnits(i)
		if len(rung) != len(srcVideo) {
			t.Errorf("%s has %d frames, the source %d", r.Tracks[i].Name, len(rung), len(srcVideo))
		}
		lo, hi := span(rung)
		if got, want := keyPTS(rung, lo, hi), keyPTS(srcVideo, lo, hi); !slices.Equal(got, want) {
			t.Errorf("%s keyframes %v, want %v", r.Tracks[i].Name, got, want)
		}
	}
	// Audio: every frame from the leader's first frame on, in order, none
	// ahead of the leading rung by more than the hold bound.
	audio := r.TrackUnits(2)
	leaderStart, _ := span(r.TrackUnits(0))
	want := 0
	for _, u := range srcAudio {
		if u.PTS*90000/48000 >= leaderStart {
			want++
		}
	}
	if len(audio) < want-2 {
		t.Errorf("%d audio frames passed, the source has %d from the leader's start on", len(audio), want)
	}
	all := r.Units()
	lead := int64(-1 << 62)
	for _, u := range all {
		switch u.Track {
		case 0:
			lead = u.DTS
		case 2:
			if ahead := u.PTS*90000/48000 - lead; ahead > maxHeld {
				t.Fatalf("audio at %d written %.2fs ahead of the leader", u.PTS, float64(ahead)/90000)
			}
		}
	}
}

// TestH265Source: an HEVC publisher gets H.264 rungs (players without HEVC
// can then play the stream), keyframes aligned.
func TestH265Source(t *testing.T) {
	t.Parallel()
	tracks, units := sourceUnits(t, testenv.Source{Duration: 3 * time.Second, VideoCodec: "libx265",
		Extra: []string{"-preset", "ultrafast", "-x265-params", "log-level=error:scenecut=0"}})
	if _, ok := tracks[0].Codec.(*codecs.H265); !ok {
		t.Fatalf("source video is %T", tracks[0].Codec)
	}
	l := &Ladder{Source: "t", Audio: Audio{Name: AudioName}, Rungs: []Rung{
		{Name: SourceName, Passthrough: true}, withDefaults(Rung{Name: "180p", Height: 180, VideoBitrate: 300000})}}
	tc, rec, _ := newFeedTranscoder(t, Config{Ladder: l})
	feed(t, tc, "hevc", tracks, units, 0)
	r := rec.WaitStream(t, "hevc", time.Second)
	var src []ingest.Unit
	for _, u := range units {
		if u.Track == 0 {
			src = append(src, u)
		}
	}
	if got := trackNames(r); !slices.Equal(got, []string{"source", "180p", "audio"}) {
		t.Fatalf("renditions %v", got)
	}
	if w, h := spsSize(t, r.Tracks[1]); w != 320 || h != 180 {
		t.Errorf("rung is %dx%d", w, h)
	}
	rung := r.TrackUnits(1)
	lo, hi := span(rung)
	if got, want := keyPTS(rung, lo, hi), keyPTS(src, lo, hi); len(rung) != len(src) || !slices.Equal(got, want) {
		t.Errorf("%d frames with keyframes %v; the source has %d with %v", len(rung), got, len(src), want)
	}
}

// TestSourceBelowLadder: when every rung is above the source, the stream is
// passed through (as "source") without starting ffmpeg.
func TestSourceBelowLadder(t *testing.T) {
	t.Parallel()
	tracks, units := sourceUnits(t, testenv.Source{Duration: time.Second, Size: "320x180"})
	tc, rec, logs := newFeedTranscoder(t, Config{Ladder: DefaultLadder()})
	feed(t, tc, "small", tracks, units, 0)
	r := rec.WaitStream(t, "small", time.Second)
	if got := trackNames(r); !slices.Equal(got, []string{"source", "audio"}) || r.NumUnits() != len(units) {
		t.Errorf("renditions %v with %d units, want source+audio with %d", got, r.NumUnits(), len(units))
	}
	if strings.Contains(logs.String(), "ffmpeg started") {
		t.Error("ffmpeg started for a source below every rung")
	}
}
