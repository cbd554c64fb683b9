package replay_test

import (
	"os"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/hls"
	"github.com/livecdn/livecdn/origin/live"
	"github.com/livecdn/livecdn/origin/replay"
)

// hourIndex archives one hour of 2 s segments (video and audio) through the
// real archive and returns its index.
func hourIndex(b *testing.B) *archive.Index {
	b.Helper()
	cfg := archive.DefaultConfig()
	cfg.Dir = b.TempDir()
	a, err := archive.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	reg := &live.Registry{Window: 10, OnSegment: a.Add}
	zero := time.Now().Add(-2 * time.Hour)
	rs := reg.Open("s").Begin(1, zero, zero, live.Publisher{}, []string{"video", "audio"}, []bool{true, false})
	rs[0].SetTrack(1, &ingest.Track{ClockRate: 90000}, cmaf.Info{Codec: "avc1.64001f", Width: 1280, Height: 720, FPS: 30}, []byte("i"))
	rs[1].SetTrack(1, &ingest.Track{ClockRate: 48000}, cmaf.Info{Codec: "mp4a.40.2", SampleRate: 48000, Channels: 2}, []byte("i"))
	data := make([]byte, 100)
	for msn := int64(0); msn < 1800; msn++ {
		for i, r := range rs {
			ts := []int64{90000, 48000}[i]
			seg := live.Segment{MSN: msn, Session: 1, Start: msn * 2 * ts, PDT: zero.Add(time.Duration(msn) * 2 * time.Second)}
			r.AddPart(seg, &live.Part{Duration: 2 * ts, Data: data}, true)
		}
	}
	a.Close()
	a, err = archive.New(cfg) // and read it back, as after a restart
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	x := a.Index("s")
	if n := len(x.Rendition("video").Segments); n != 1800 {
		b.Fatalf("%d segments archived", n)
	}
	os.RemoveAll(cfg.Dir)
	return x
}

// BenchmarkReplayPlaylist1h writes the replay media playlist of a whole hour
// (1,800 segments) and, as the baseline of the same run, the live LL-HLS
// playlist of a 10-segment window.
func BenchmarkReplayPlaylist1h(b *testing.B) {
	x := hourIndex(b)
	cfg := hls.Config{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second}
	b.Run("replay-media-1h", func(b *testing.B) {
		for b.Loop() {
			if _, err := hls.Replay(replay.Snapshot(x.Rendition("video"), replay.Range{}), hls.ReplayOptions{Ended: true}, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("replay-multivariant-1h", func(b *testing.B) {
		for b.Loop() {
			if _, err := hls.Multivariant(replay.Snapshots(x, replay.Range{})); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("live-media-window10", func(b *testing.B) {
		snap := replay.Snapshot(x.Rendition("video"), replay.Range{})
		snap.Segments = snap.Segments[len(snap.Segments)-10:]
		for i := range snap.Segments {
			s := &snap.Segments[i]
			s.Parts = []*live.Part{{Duration: s.Duration}}
		}
		for b.Loop() {
			if _, err := hls.Media(snap, hls.Request{}, nil, cfg); err != nil {
				b.Fatal(err)
			}
		}
	})
}
