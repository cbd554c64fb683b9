package rtsp

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

func TestPublishOpus(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	e := newEnv(t, ingest.HubConfig{}, Config{})
	const dur = 2 * time.Second
	src := testenv.Source{Duration: dur, AudioCodec: "libopus", Extra: tcp}
	s := publishAndWait(t, e, src.Args("rtsp", e.url("live/opus")))
	if len(s.Tracks) != 2 {
		t.Fatalf("%d tracks, want 2", len(s.Tracks))
	}
	o, ok := s.Tracks[1].Codec.(*codecs.Opus)
	if !ok || o.ChannelCount != 2 || s.Tracks[1].ClockRate != 48000 {
		t.Fatalf("track 1 = %#v @%d, want stereo Opus @48000", s.Tracks[1].Codec, s.Tracks[1].ClockRate)
	}
	audio := s.TrackUnits(1)
	// libopus sends 20 ms packets: about 100 in 2 s.
	if len(audio) < 80 {
		t.Fatalf("%d Opus units, want about 100", len(audio))
	}
	for i, u := range audio {
		if len(u.Data) != 1 || len(u.Data[0]) == 0 {
			t.Fatalf("Opus unit %d malformed", i)
		}
		if i > 0 && u.PTS-audio[i-1].PTS != 960 {
			t.Fatalf("Opus unit %d is %d ticks after the previous one, want 960 (20 ms)", i, u.PTS-audio[i-1].PTS)
		}
	}
	checkVideo(t, s.TrackUnits(0), dur)
}

// TestPublishH265 covers H.265 with the parameter sets in the SDP and
// x265's B-frames.
func TestPublishH265(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	e := newEnv(t, ingest.HubConfig{}, Config{})
	const dur = 2 * time.Second
	src := testenv.Source{
		Duration: dur, VideoCodec: "libx265", AudioCodec: "none",
		Extra: append([]string{"-preset", "ultrafast", "-x265-params", "log-level=error:bframes=2"}, tcp...),
	}
	s := publishAndWait(t, e, src.Args("rtsp", e.url("live/hevc")))
	if len(s.Tracks) != 1 {
		t.Fatalf("%d tracks, want 1", len(s.Tracks))
	}
	h, ok := s.Tracks[0].Codec.(*codecs.H265)
	if !ok || len(h.VPS) == 0 || len(h.SPS) == 0 || len(h.PPS) == 0 {
		t.Fatalf("track 0 = %#v, want H.265 with VPS/SPS/PPS", s.Tracks[0].Codec)
	}
	checkVideo(t, s.TrackUnits(0), dur)
}

// TestPublishInBandParams makes ffmpeg keep SPS/PPS out of the SDP (no global
// header), so they only arrive in-band with each keyframe.
func TestPublishInBandParams(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	e := newEnv(t, ingest.HubConfig{}, Config{})
	const dur = 2 * time.Second
	src := testenv.Source{Duration: dur, Extra: append([]string{"-flags:v", "-global_header"}, tcp...)}
	s := publishAndWait(t, e, src.Args("rtsp", e.url("live/inband")))
	if !strings.Contains(e.logs.String(), "H264@90000(parameters awaited in-band)") {
		t.Fatal("the SDP carried SPS/PPS after all; this test no longer covers in-band parameters")
	}
	h, ok := s.Tracks[0].Codec.(*codecs.H264)
	if !ok || len(h.SPS) == 0 || len(h.PPS) == 0 {
		t.Fatalf("track 0 = %#v, want H.264 with SPS/PPS learnt in-band", s.Tracks[0].Codec)
	}
	var sps h264.SPS
	if err := sps.Unmarshal(h.SPS); err != nil || sps.Width() != 320 || sps.Height() != 180 {
		t.Fatalf("in-band SPS: %v, %dx%d", err, sps.Width(), sps.Height())
	}
	video := s.TrackUnits(0)
	checkVideo(t, video, dur)
	if len(s.TrackUnits(1)) == 0 {
		t.Error("no audio units")
	}
}
