package archive_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

// BenchmarkLivePath measures what archiving adds to the live path: each op
// packages one 2 s segment of ten 10 kB parts into a rendition (what the
// publisher goroutine does), without an archive and with a disk archive. The
// disk case includes the background write and index fsync (Flush at the end),
// since on a small machine that work competes for the same cores. Compare the
// two in the same run: the ratio is the overhead.
func BenchmarkLivePath(b *testing.B) {
	part := bytes.Repeat([]byte{7}, 10_000)
	run := func(b *testing.B, hook func(live.Completed), every func()) {
		reg := &live.Registry{Window: 10, OnSegment: hook}
		st := reg.Open("s")
		zero := time.Now()
		r := st.Begin(1, zero, zero, live.Publisher{}, []string{"video"}, []bool{true})[0]
		r.SetTrack(1, &ingest.Track{ClockRate: 90000}, cmaf.Info{Codec: "avc1.64001f"}, []byte("init"))
		b.SetBytes(int64(10 * len(part)))
		b.ReportAllocs()
		msn := int64(0)
		for b.Loop() {
			seg := live.Segment{MSN: msn, Session: 1, Start: msn * 180000, PDT: zero.Add(time.Duration(msn) * 2 * time.Second)}
			for i := range 10 {
				r.AddPart(seg, &live.Part{Index: i, Duration: 18000, Data: part}, i == 9)
			}
			msn++
			if every != nil && msn%64 == 0 {
				every()
			}
		}
	}
	newArchive := func(b *testing.B) *archive.Archive {
		cfg := archive.DefaultConfig()
		cfg.Dir = b.TempDir()
		a, err := archive.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		return a
	}
	b.Run("no-archive", func(b *testing.B) { run(b, nil, nil) })
	// The publisher's own time: the writer runs beside it (same cores) but
	// is let catch up outside the timer, as it does between real segments
	// (2 s apart), so the queue never fills.
	b.Run("disk-archive-live-path", func(b *testing.B) {
		a := newArchive(b)
		run(b, a.Add, func() {
			b.StopTimer()
			_ = a.Flush(context.Background())
			b.StartTimer()
		})
		b.StopTimer()
		a.Close()
	})
	// Everything, the writes and fsyncs included: segments come as fast as
	// the disk takes them.
	b.Run("disk-archive-total", func(b *testing.B) {
		a := newArchive(b)
		run(b, a.Add, nil)
		if err := a.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		a.Close()
	})
}
