package rtsp

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// publishAndWait runs ffmpeg to completion and waits until the stream it
// published has ended at the sink.
func publishAndWait(t *testing.T, e *env, args []string) *ingesttest.Recording {
	t.Helper()
	n := e.rec.NumStreams()
	p := testenv.Publish(t, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.Output())
	}
	var s *ingesttest.Recording
	testenv.Eventually(t, 10*time.Second, "stream published and ended", func() bool {
		ss := e.rec.Streams()
		if len(ss) != n+1 || !ss[n].Closed() {
			return false
		}
		s = ss[n]
		return true
	})
	return s
}

// checkVideo verifies a video track's units: first a keyframe, DTS rising
// strictly, PTS never before DTS, and the DTS span matching the duration.
func checkVideo(t *testing.T, units []ingest.Unit, dur time.Duration) {
	t.Helper()
	if len(units) == 0 {
		t.Fatal("no video units")
	}
	if !units[0].Key {
		t.Error("first video unit is not a keyframe")
	}
	reordered := 0
	for i, u := range units {
		if len(u.Data) == 0 {
			t.Fatalf("video unit %d has no NAL units", i)
		}
		for _, n := range u.Data {
			if len(n) >= 4 && n[0] == 0 && n[1] == 0 && (n[2] == 1 || n[2] == 0 && n[3] == 1) {
				t.Fatalf("video unit %d carries a start code", i)
			}
		}
		if u.PTS < u.DTS {
			t.Fatalf("unit %d: PTS %d before DTS %d", i, u.PTS, u.DTS)
		}
		if u.PTS != u.DTS {
			reordered++
		}
		if i > 0 && u.DTS-units[i-1].DTS > 3000 {
			t.Logf("gap before unit %d: DTS %d -> %d", i, units[i-1].DTS, u.DTS)
		}
		if i > 0 && u.DTS <= units[i-1].DTS {
			t.Fatalf("unit %d: DTS %d not after %d", i, u.DTS, units[i-1].DTS)
		}
	}
	span := time.Duration(units[len(units)-1].DTS-units[0].DTS) * time.Second / 90000
	if math.Abs(float64(span-dur)) > float64(200*time.Millisecond) {
		t.Errorf("video DTS spans %v, want %v ±0.2s (%d units)", span, dur, len(units))
	}
	t.Logf("%s: %d video units over %v, %d with PTS != DTS; first PTS %d DTS %d", t.Name(), len(units), span, reordered, units[0].PTS, units[0].DTS)
}

func TestPublishH264AAC(t *testing.T) {
	testenv.NeedFFmpeg(t)
	const dur = 3 * time.Second
	cases := []struct {
		name      string
		udp       bool
		transport string
		extra     []string
	}{
		{name: "tcp", transport: "tcp"},
		// B-frames make PTS differ from DTS, which the DTS extractor must undo.
		{name: "tcp-bframes", transport: "tcp", extra: []string{"-bf", "2"}},
		{name: "udp", udp: true, transport: "udp"},
		// ffmpeg tries UDP first and must fall back to TCP on a TCP-only server.
		{name: "default-transport"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A short idle timeout checks that media keeps a connection
			// alive, and that over UDP the silent control connection is
			// left alone.
			cfg := Config{IdleTimeout: 500 * time.Millisecond}
			var e *env
			if tc.udp {
				e = newUDPEnv(t, ingest.HubConfig{}, cfg)
			} else {
				e = newEnv(t, ingest.HubConfig{}, cfg)
			}
			src := testenv.Source{Duration: dur, Realtime: tc.udp, Extra: tc.extra}
			if tc.transport != "" {
				src.Extra = append(src.Extra, "-rtsp_transport", tc.transport)
			}
			s := publishAndWait(t, e, src.Args("rtsp", e.url("live/test")))
			if strings.Contains(e.logs.String(), "timed out") {
				t.Error("a connection timed out while publishing")
			}

			if s.Name != "test" || s.Protocol != "rtsp" {
				t.Errorf("stream %q over %q, want test over rtsp", s.Name, s.Protocol)
			}
			if len(s.Tracks) != 2 {
				t.Fatalf("%d tracks, want 2", len(s.Tracks))
			}
			h, ok := s.Tracks[0].Codec.(*codecs.H264)
			if !ok || len(h.SPS) == 0 || len(h.PPS) == 0 || s.Tracks[0].ClockRate != 90000 {
				t.Errorf("track 0 = %#v @%d, want H.264 with SPS/PPS @90000", s.Tracks[0].Codec, s.Tracks[0].ClockRate)
			}
			a, ok := s.Tracks[1].Codec.(*codecs.MPEG4Audio)
			if !ok || a.Config.SampleRate != 48000 || s.Tracks[1].ClockRate != 48000 {
				t.Errorf("track 1 = %#v @%d, want AAC 48000 @48000", s.Tracks[1].Codec, s.Tracks[1].ClockRate)
			}
			checkVideo(t, s.TrackUnits(0), dur)
			if tc.name == "tcp-bframes" {
				reordered := 0
				for _, u := range s.TrackUnits(0) {
					if u.PTS != u.DTS {
						reordered++
					}
				}
				if reordered == 0 {
					t.Error("B-frames requested but every PTS equals its DTS")
				}
			}
			audio := s.TrackUnits(1)
			// 3 s of 48 kHz AAC is about 140 frames of 1024 samples.
			if len(audio) < 100 {
				t.Fatalf("%d audio units, want about 140", len(audio))
			}
			for i, u := range audio {
				if len(u.Data) != 1 || len(u.Data[0]) == 0 || !u.Key || u.PTS != u.DTS {
					t.Fatalf("audio unit %d malformed: %d parts key=%v", i, len(u.Data), u.Key)
				}
				if i > 0 && u.PTS <= audio[i-1].PTS {
					t.Fatalf("audio unit %d: PTS %d not after %d", i, u.PTS, audio[i-1].PTS)
				}
			}
		})
	}
}
