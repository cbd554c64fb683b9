package origin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// H.265 and Opus are carried through to CMAF: the playlists name hvc1 and
// opus, and ffprobe decodes what HLS and DASH serve.
func TestHEVCAndOpus(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "")
	src := testenv.Source{Duration: 20 * time.Second, Realtime: true, VideoCodec: "libx265", AudioCodec: "libopus",
		Extra: []string{"-preset", "ultrafast", "-x265-params", "log-level=error", "-rtsp_transport", "tcp"}}
	testenv.PublishSource(t, src, "rtsp", n.rtspURL("hevc"))
	base := n.HTTP + "/live/hevc"
	waitSegments(t, base+"/video/index.m3u8", 1, 30*time.Second)
	mv := string(mustGet(t, base+"/index.m3u8"))
	if !contains(mv, `CODECS="hvc1.`, `,opus"`) {
		t.Errorf("multivariant codecs:\n%s", mv)
	}
	for _, url := range []string{base + "/index.m3u8", base + "/manifest.mpd"} {
		p := testenv.FFprobe(t, url)
		v, a := p.Codec("video"), p.Codec("audio")
		if v == nil || v.CodecName != "hevc" || v.Width != 320 || a == nil || a.CodecName != "opus" {
			t.Errorf("%s: video %+v audio %+v", url[strings.LastIndex(url, "/")+1:], v, a)
		}
	}
}
