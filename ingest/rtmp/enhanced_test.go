package rtmp

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	rcodecs "github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// TestEnhancedRTMPH265Opus covers enhanced RTMP (FourCC hvc1/Opus), which
// ffmpeg 5.1 cannot send (its flv muxer has no HEVC or Opus; that came in
// ffmpeg 6.1). The publisher is gortmplib's own client instead, sending a
// real libx265 bitstream that ffmpeg encoded, and Opus packets.
func TestEnhancedRTMPH265Opus(t *testing.T) {
	testenv.NeedFFmpeg(t)
	const fps, frames = 30, 90
	aus := encodeHEVC(t, fps, frames)

	e := newEnv(t, ingest.HubConfig{})
	u, err := url.Parse(e.url("live/hevc"))
	if err != nil {
		t.Fatal(err)
	}
	c := &gortmplib.Client{URL: u, Publish: true}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer c.Close()

	var vps, sps, pps []byte
	for _, n := range aus[0] {
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			vps = n
		case h265.NALUType_SPS_NUT:
			sps = n
		case h265.NALUType_PPS_NUT:
			pps = n
		}
	}
	video := &gortmplib.Track{Codec: &rcodecs.H265{VPS: vps, SPS: sps, PPS: pps}}
	audio := &gortmplib.Track{Codec: &rcodecs.Opus{IDHeader: &opus.IDHeader{
		Version: 1, ChannelCount: 2, PreSkip: 312, InputSampleRate: 48000,
	}}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	// A 20 ms Opus packet of silence (CELT, fullband, stereo).
	silence := []byte{0xfc, 0xff, 0xfe}
	const opusFrame = 20 * time.Millisecond
	var audioTS time.Duration
	for i, au := range aus {
		ts := time.Duration(i) * time.Second / fps
		for ; audioTS <= ts; audioTS += opusFrame {
			if err := w.WriteOpus(audio, audioTS, silence); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.WriteH265(video, ts, ts, au); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()

	testenv.Eventually(t, 5*time.Second, "stream ends after the client leaves", func() bool {
		all := e.rec.Streams()
		return len(all) == 1 && all[0].Closed()
	})
	st := e.rec.Streams()[0]
	if len(st.Tracks) != 2 {
		t.Fatalf("got %d tracks, want H.265 + Opus", len(st.Tracks))
	}
	v, ok := st.Tracks[0].Codec.(*codecs.H265)
	if !ok || !bytes.Equal(v.VPS, vps) || !bytes.Equal(v.SPS, sps) || !bytes.Equal(v.PPS, pps) || st.Tracks[0].ClockRate != 90000 {
		t.Fatalf("track 0 = %#v at %d Hz, want H.265 with the encoder's VPS/SPS/PPS at 90000", st.Tracks[0].Codec, st.Tracks[0].ClockRate)
	}
	if a, ok := st.Tracks[1].Codec.(*codecs.Opus); !ok || a.ChannelCount != 2 || st.Tracks[1].ClockRate != 48000 {
		t.Fatalf("track 1 = %#v at %d Hz, want stereo Opus at 48000", st.Tracks[1].Codec, st.Tracks[1].ClockRate)
	}

	vu, au := st.TrackUnits(0), st.TrackUnits(1)
	if len(vu) != frames {
		t.Errorf("got %d video units, want %d", len(vu), frames)
	}
	keys := 0
	for i, u := range vu {
		if u.Key {
			keys++
		}
		// RTMP carries milliseconds, so frame i sits at floor(i*1000/30) ms.
		if want := int64(i*1000/fps) * 90; u.DTS != want || u.PTS != want {
			t.Fatalf("video unit %d at DTS %d PTS %d, want %d", i, u.DTS, u.PTS, want)
		}
	}
	if !vu[0].Key || keys != frames/fps {
		t.Errorf("first unit key=%v, %d key frames; want a key frame first and one per second (%d)", vu[0].Key, keys, frames/fps)
	}
	if len(au) < 140 {
		t.Fatalf("got %d Opus units, want about 150", len(au))
	}
	for i, u := range au {
		if want := int64(i) * 960; u.DTS != want || !u.Key || !bytes.Equal(u.Data[0], silence) {
			t.Fatalf("Opus unit %d: DTS %d key %v, want DTS %d (20 ms = 960 ticks), key, the packet sent", i, u.DTS, u.Key, want)
		}
	}
}

// encodeHEVC has ffmpeg encode frames of test video with libx265 and returns
// the access units, split at the access unit delimiters x265 is asked to write.
func encodeHEVC(t *testing.T, fps, frames int) [][][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "lavfi", "-i", "testsrc2=size=320x180:rate="+itoa(fps),
		"-frames:v", itoa(frames), "-c:v", "libx265", "-preset", "ultrafast",
		"-x265-params", "aud=1:bframes=0:keyint="+itoa(fps)+":min-keyint="+itoa(fps)+":scenecut=0:log-level=error",
		"-f", "hevc", "-").Output()
	if err != nil {
		t.Skipf("ffmpeg cannot encode HEVC with libx265 here: %v", err)
	}
	var aus [][][]byte
	for _, n := range splitAnnexB(out) {
		if h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_AUD_NUT {
			aus = append(aus, nil)
			continue
		}
		if len(aus) == 0 {
			t.Fatal("HEVC stream does not start with an access unit delimiter")
		}
		aus[len(aus)-1] = append(aus[len(aus)-1], n)
	}
	if len(aus) != frames {
		t.Fatalf("libx265 produced %d access units, want %d", len(aus), frames)
	}
	return aus
}

// splitAnnexB splits a whole Annex-B byte stream into NAL units.
func splitAnnexB(b []byte) [][]byte {
	var nalus [][]byte
	for _, part := range bytes.Split(b, []byte{0, 0, 1}) {
		part = bytes.TrimRight(part, "\x00") // the 4-byte start code's leading zero
		if len(part) > 0 {
			nalus = append(nalus, part)
		}
	}
	return nalus
}

func itoa(i int) string { return strconv.Itoa(i) }
