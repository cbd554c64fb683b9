package rtmp

import (
	"context"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
)

func TestTicks(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		rate int
		want int64
	}{
		{time.Second, 90000, 90000},
		{33 * time.Millisecond, 90000, 2970},
		{time.Millisecond, 44100, 44},
		{21 * time.Millisecond, 48000, 1008},
		{-time.Millisecond, 90000, -90},
		// 100 days: d*rate alone would overflow int64.
		{100 * 24 * time.Hour, 90000, 100 * 24 * 3600 * 90000},
	} {
		if got := ticks(tc.d, tc.rate); got != tc.want {
			t.Errorf("ticks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
	// Compare with exact big-integer arithmetic over the whole range RTMP
	// timestamps can reach after unwrapping (years).
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		d := time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour)))
		rate := []int{90000, 48000, 44100, 8000, 96000}[rng.IntN(5)]
		want := new(big.Int).Mul(big.NewInt(int64(d)), big.NewInt(int64(rate)))
		want.Quo(want, big.NewInt(int64(time.Second)))
		if got := ticks(d, rate); got != want.Int64() {
			t.Fatalf("ticks(%d, %d) = %d, want %d", d, rate, got, want.Int64())
		}
	}
}

func TestUnwrap(t *testing.T) {
	const wrap = int64(1) << 32
	var u unwrapper
	for i, step := range []struct{ raw, want int64 }{
		{wrap - 20, wrap - 20},
		{wrap - 10, wrap - 10},
		{0, wrap},            // wrapped: a small step forward
		{10, wrap + 10},      // keeps going
		{wrap - 5, wrap - 5}, // a late frame from before the wrap
		{20, wrap + 20},
		{5000, wrap + 5000},
	} {
		got := u.unwrap(time.Duration(step.raw) * time.Millisecond)
		if want := time.Duration(step.want) * time.Millisecond; got != want {
			t.Fatalf("step %d: unwrap(%d ms) = %v, want %v", i, step.raw, got, want)
		}
	}
}

// TestVideoTrackWrite checks what reaches the session from an H.264 track:
// parameter-set-only units and frames before the first IDR are dropped,
// and key frames are marked.
func TestVideoTrackWrite(t *testing.T) {
	rec := ingesttest.NewRecorder()
	hub := ingest.NewHub(ingest.HubConfig{Handler: rec, Logger: slog.New(slog.DiscardHandler)})
	sess, err := hub.Authorize(context.Background(), ingest.Request{Protocol: "rtmp", Name: "unit"})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sps, pps := []byte{0x67, 1, 2, 3}, []byte{0x68, 4, 5}
	track := &ingest.Track{Codec: &codecs.H264{SPS: sps, PPS: pps}, ClockRate: 90000}
	if err := sess.Start([]*ingest.Track{track}); err != nil {
		t.Fatal(err)
	}
	c := &conn{sess: sess, log: slog.New(slog.DiscardHandler)}
	v := &videoTrack{c: c, params: [][]byte{sps, pps}, isKey: h264.IsRandomAccess, isPicture: isH264Picture}

	idr, nonIDR := []byte{0x65, 0x88}, []byte{0x41, 0x9a}
	ms := time.Millisecond
	v.write(0, 0, [][]byte{sps, pps})                    // sequence header: dropped
	v.write(10*ms, 10*ms, [][]byte{nonIDR})              // before the first IDR: dropped
	v.write(40*ms, 20*ms, [][]byte{sps, pps, idr})       // first key frame, PTS after DTS
	v.write(60*ms, 60*ms, [][]byte{nonIDR})              // kept
	v.write(70*ms, 70*ms, [][]byte{{0x67, 9}, pps})      // in-band change: dropped, warned
	v.write(100*ms, 100*ms, [][]byte{{0x09, 0x10}, idr}) // AUD + IDR: key

	us := rec.Streams()[0].Units()
	if len(us) != 3 {
		t.Fatalf("got %d units, want 3", len(us))
	}
	want := []struct {
		pts, dts int64
		key      bool
	}{{3600, 1800, true}, {5400, 5400, false}, {9000, 9000, true}}
	for i, w := range want {
		if u := us[i]; u.PTS != w.pts || u.DTS != w.dts || u.Key != w.key {
			t.Errorf("unit %d: PTS %d DTS %d key %v, want %d %d %v", i, u.PTS, u.DTS, u.Key, w.pts, w.dts, w.key)
		}
	}
	if !v.warned {
		t.Error("the in-band SPS change was not noticed")
	}
}
