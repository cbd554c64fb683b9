package origin_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

// Each protocol: ffmpeg publishes a 6 s 320x180 H.264 + AAC stream; ffprobe
// reads the HLS and DASH output; the media adds up to what was sent.
func TestPublishEachProtocol(t *testing.T) {
	testenv.NeedFFmpeg(t)
	const sent = 6.0
	for _, proto := range []string{"rtmp", "rtsp", "srt"} {
		t.Run(proto, func(t *testing.T) {
			t.Parallel()
			n := startOrigin(t, "")
			src := testenv.Source{Duration: sent * time.Second, Realtime: true}
			start := time.Now()
			var pub *testenv.Publisher
			switch proto {
			case "rtmp":
				pub = testenv.PublishSource(t, src, "flv", n.rtmpURL("cam"))
			case "rtsp":
				src.Extra = []string{"-rtsp_transport", "tcp"}
				pub = testenv.PublishSource(t, src, "rtsp", n.rtspURL("cam"))
			case "srt":
				pub = testenv.PublishSource(t, src, "mpegts", n.srtURL("cam"))
			}
			base := n.HTTP + "/live/cam"
			waitSegments(t, base+"/video/index.m3u8", 1, 20*time.Second)
			t.Logf("%s: publisher start → first playable playlist: %v", proto, time.Since(start).Round(10*time.Millisecond))

			hls := testenv.FFprobe(t, base+"/index.m3u8")
			checkStreams(t, "HLS", hls)
			dash := testenv.FFprobe(t, base+"/manifest.mpd")
			checkStreams(t, "DASH", dash)

			if err := pub.Wait(t.Context()); err != nil {
				t.Fatalf("publisher: %v\n%s", err, pub.Output())
			}
			// Once the publisher is gone its last part is flushed and every
			// segment listed: the media must add up to what was sent.
			var m = waitIdle(t, base+"/video/index.m3u8")
			var total float64
			for _, s := range m.Segments {
				total += s.Duration.Seconds()
			}
			if math.Abs(total-sent) > 2 {
				t.Errorf("HLS lists %.2fs of video, sent %.0fs", total, sent)
			}
			file := download(t, base+"/video", m)
			if d := testenv.FFprobe(t, file).Duration(); math.Abs(d-sent) > 2 {
				t.Errorf("ffprobe: downloaded video lasts %.2fs, sent %.0fs", d, sent)
			}
			am := media(t, base+"/audio/index.m3u8")
			if d := testenv.FFprobe(t, download(t, base+"/audio", am)).Duration(); math.Abs(d-sent) > 2 {
				t.Errorf("ffprobe: downloaded audio lasts %.2fs, sent %.0fs", d, sent)
			}
			var doc *mpd.MPD
			doc, err := mpd.MPDFromBytes(mustGet(t, base+"/manifest.mpd"))
			if err != nil {
				t.Fatalf("parse MPD: %v", err)
			}
			var dashTotal float64
			for _, as := range doc.Periods[0].AdaptationSets {
				if as.ContentType != "video" {
					continue
				}
				st := as.Representations[0].SegmentTemplate
				for _, s := range st.SegmentTimeline.S {
					dashTotal += float64(s.D) * float64(s.R+1) / float64(*st.Timescale)
				}
			}
			if math.Abs(dashTotal-sent) > 2 {
				t.Errorf("DASH timeline covers %.2fs, sent %.0fs", dashTotal, sent)
			}
		})
	}
}

func checkStreams(t *testing.T, what string, p *testenv.Probe) {
	t.Helper()
	v, a := p.Codec("video"), p.Codec("audio")
	if v == nil || v.CodecName != "h264" || v.Width != 320 || v.Height != 180 {
		t.Errorf("%s video: %+v, want h264 320x180", what, v)
	}
	if a == nil || a.CodecName != "aac" || a.SampleRate != "48000" {
		t.Errorf("%s audio: %+v, want aac 48000", what, a)
	}
}

// waitIdle waits until the media playlist has no preload hint (the publisher
// left and the last part was flushed) and returns it.
func waitIdle(t *testing.T, url string) (m *playlist.Media) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, "publisher gone from "+url, func() bool {
		b := mustGet(t, url)
		if strings.Contains(string(b), "#EXT-X-PRELOAD-HINT") {
			return false
		}
		m = media(t, url)
		return true
	})
	return m
}
