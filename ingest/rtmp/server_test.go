package rtmp

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// TestPublishH264AAC publishes what OBS or ffmpeg typically send and checks
// the stream as a consumer sees it.
func TestPublishH264AAC(t *testing.T) {
	testenv.NeedFFmpeg(t)
	e := newEnv(t, ingest.HubConfig{})
	const dur = 3 * time.Second
	p := testenv.PublishSource(t, testenv.Source{Duration: dur}, "flv", e.url("live/test"))
	if err := waitExit(t, p, 30*time.Second); err != nil {
		t.Fatalf("ffmpeg failed: %v\n%s", err, p.Output())
	}
	testenv.Eventually(t, 5*time.Second, "stream ends after ffmpeg exits", func() bool {
		all := e.rec.Streams()
		return len(all) == 1 && all[0].Closed()
	})
	st := e.rec.Streams()[0]
	if st.Name != "test" || st.Protocol != "rtmp" || st.Remote == "" {
		t.Errorf("stream = %q over %q from %q, want test over rtmp", st.Name, st.Protocol, st.Remote)
	}
	if len(st.Tracks) != 2 {
		t.Fatalf("got %d tracks, want 2 (H.264 + AAC)", len(st.Tracks))
	}
	v, ok := st.Tracks[0].Codec.(*codecs.H264)
	if !ok || len(v.SPS) == 0 || len(v.PPS) == 0 || st.Tracks[0].ClockRate != 90000 {
		t.Fatalf("track 0 = %#v at %d Hz, want H.264 with SPS/PPS at 90000 Hz", st.Tracks[0].Codec, st.Tracks[0].ClockRate)
	}
	a, ok := st.Tracks[1].Codec.(*codecs.MPEG4Audio)
	if !ok || a.Config.SampleRate != 48000 || st.Tracks[1].ClockRate != 48000 {
		t.Fatalf("track 1 = %#v at %d Hz, want AAC 48000", st.Tracks[1].Codec, st.Tracks[1].ClockRate)
	}

	video := st.TrackUnits(0)
	audio := st.TrackUnits(1)
	if len(video) < 60 || len(audio) < 60 {
		t.Fatalf("got %d video and %d audio units, want about 90 and 140", len(video), len(audio))
	}
	if !video[0].Key {
		t.Error("first video unit is not a key frame")
	}
	for i, u := range video {
		if i > 0 && u.DTS <= video[i-1].DTS {
			t.Fatalf("video DTS not rising at %d: %d after %d", i, u.DTS, video[i-1].DTS)
		}
		if u.PTS < u.DTS {
			t.Fatalf("video unit %d has PTS %d before DTS %d", i, u.PTS, u.DTS)
		}
		for _, n := range u.Data {
			if len(n) == 0 || bytes.HasPrefix(n, []byte{0, 0, 1}) || bytes.HasPrefix(n, []byte{0, 0, 0, 1}) {
				t.Fatalf("video unit %d holds an empty NAL unit or a start code", i)
			}
		}
	}
	// 90 frames at 30 fps span 89 frame intervals.
	wantSpan := dur.Seconds() - 1.0/30
	if span := float64(video[len(video)-1].DTS-video[0].DTS) / 90000; span < wantSpan-0.2 || span > wantSpan+0.2 {
		t.Errorf("video spans %.3fs, want %.3fs ± 0.2s", span, wantSpan)
	}
	for i, u := range audio {
		if !u.Key || len(u.Data) != 1 || len(u.Data[0]) == 0 {
			t.Fatalf("audio unit %d: key=%v with %d payloads, want one non-empty key frame", i, u.Key, len(u.Data))
		}
		if i > 0 && u.DTS <= audio[i-1].DTS {
			t.Fatalf("audio DTS not rising at %d", i)
		}
	}
	// AAC frames are 1024 samples: the timestamps must be in 48 kHz ticks.
	if span := float64(audio[len(audio)-1].DTS-audio[0].DTS) / 48000; span < dur.Seconds()-0.3 || span > dur.Seconds()+0.1 {
		t.Errorf("audio spans %.3fs, want about %v", span, dur)
	}
}

// TestPublishKeys checks that with keys configured a missing or wrong key is
// refused before any media, and both places an encoder may put the key work.
func TestPublishKeys(t *testing.T) {
	testenv.NeedFFmpeg(t)
	keys := &ingest.Keys{Streams: map[string]string{"test": "s3cret"}}
	short := testenv.Source{Duration: 3 * time.Second}
	for _, tc := range []struct {
		name  string
		path  string
		extra []string // ffmpeg rtmp protocol options
		ok    bool
	}{
		{name: "missing key", path: "live/test"},
		{name: "wrong key", path: "live/test?key=nope"},
		{name: "key of another stream", path: "live/other?key=s3cret"},
		{name: "wrong app", path: "other/test?key=s3cret"},
		{name: "key in stream key", path: "live/test?key=s3cret", ok: true},
		// OBS style: server "rtmp://host/live?key=s3cret", stream key "test",
		// so the key travels in the connect tcUrl/app instead.
		{name: "key in tcUrl", extra: []string{"-rtmp_app", "live?key=s3cret", "-rtmp_playpath", "test"}, ok: true},
		{name: "wrong key in tcUrl", extra: []string{"-rtmp_app", "live?key=nope", "-rtmp_playpath", "test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, ingest.HubConfig{Keys: keys})
			src := short
			src.Extra = tc.extra
			p := testenv.PublishSource(t, src, "flv", e.url(tc.path))
			err := waitExit(t, p, 30*time.Second)
			if !tc.ok {
				if err == nil {
					t.Fatalf("ffmpeg succeeded, want it refused\n%s", p.Output())
				}
				if !strings.Contains(p.Output(), "Server error") {
					t.Errorf("ffmpeg output does not show the server's refusal:\n%s", p.Output())
				}
				if n := e.rec.NumStreams(); n != 0 {
					t.Fatalf("handler saw %d streams, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("ffmpeg failed: %v\n%s", err, p.Output())
			}
			testenv.Eventually(t, 5*time.Second, "stream recorded", func() bool {
				all := e.rec.Streams()
				return len(all) == 1 && all[0].Closed() && all[0].NumUnits() > 0
			})
			if got := e.rec.Streams()[0].Name; got != "test" {
				t.Errorf("stream name %q, want test", got)
			}
		})
	}
}
