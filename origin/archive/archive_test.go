package archive_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

// feeder publishes synthetic segments through a real live.Registry whose
// OnSegment hook is the archive, the way the origin wires it.
type feeder struct {
	rend    *live.Rendition
	zero    time.Time
	session int
	msn     int64
}

func newFeeder(a *archive.Archive, stream string, session int, firstMSN int64, zero time.Time) *feeder {
	reg := &live.Registry{Window: 5, OnSegment: a.Add}
	st := reg.Open(stream)
	rs := st.Begin(session, zero, zero, live.Publisher{}, []string{"video"}, []bool{true})
	rs[0].SetTrack(session, &ingest.Track{ClockRate: 90000}, cmaf.Info{Codec: "avc1.64001f", Width: 320, Height: 180},
		[]byte(fmt.Sprintf("init-of-session-%d", session)))
	return &feeder{rend: rs[0], zero: zero, session: session, msn: firstMSN}
}

// segment completes one 2 s segment of `size` bytes in two parts.
func (f *feeder) segment(size int, disc bool) []byte {
	data := bytes.Repeat([]byte{byte(f.msn)}, size)
	start := (f.msn) * 180000
	seg := live.Segment{MSN: f.msn, Session: f.session, Discontinuity: disc, Start: start,
		PDT: f.zero.Add(live.Dur(start, 90000))}
	f.rend.AddPart(seg, &live.Part{Duration: 90000, Data: data[:size/2], Independent: true}, false)
	f.rend.AddPart(seg, &live.Part{Index: 1, Duration: 90000, Data: data[size/2:]}, true)
	f.msn++
	return data
}

func openArchive(t *testing.T, cfg archive.Config) *archive.Archive {
	t.Helper()
	a, err := archive.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func flush(t *testing.T, a *archive.Archive) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestDiskRoundTripAndRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := archive.DefaultConfig()
	cfg.Dir = dir
	a := openArchive(t, cfg)
	zero := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := newFeeder(a, "s", 1, 0, zero)
	var want [][]byte
	for range 5 {
		want = append(want, f.segment(1000, false))
	}
	a.Close() // writes what is queued

	// A restart sees everything; a second session continues the numbers
	// with a discontinuity and a new init section.
	a = openArchive(t, cfg)
	defer a.Close()
	f2 := newFeeder(a, "s", 2, 5, zero.Add(time.Minute))
	want = append(want, f2.segment(700, true))
	flush(t, a)
	testenv.Eventually(t, 5*time.Second, "6 segments indexed", func() bool {
		x := a.Index("s")
		return x != nil && len(x.Rendition("video").Segments) == 6
	})
	x := a.Index("s")
	r := x.Rendition("video")
	if !r.Video || r.Timescale != 90000 || r.Info.Codec != "avc1.64001f" || !r.Inits[1] || !r.Inits[2] {
		t.Fatalf("rendition %+v", r)
	}
	for i, rec := range r.Segments {
		if rec.MSN != int64(i) || rec.Size != len(want[i]) || rec.Duration != 180000 {
			t.Errorf("record %d: %+v", i, rec)
		}
		b, err := a.Open(context.Background(), "s", "video", live.SegmentName(rec.MSN))
		if err != nil || !bytes.Equal(b, want[i]) {
			t.Errorf("segment %d: %d bytes, %v", i, len(b), err)
		}
	}
	if !r.Segments[5].Disc || r.Segments[5].Session != 2 || r.Segments[4].Disc {
		t.Errorf("discontinuity lost: %+v", r.Segments[4:])
	}
	if b, _ := a.Open(context.Background(), "s", "video", "init2.mp4"); string(b) != "init-of-session-2" {
		t.Errorf("init2 = %q", b)
	}
	if _, err := a.Open(context.Background(), "s", "video", "seg99.m4s"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("missing segment: %v", err)
	}
	from, to, _ := x.Span()
	if !from.Equal(zero) || !to.Equal(zero.Add(time.Minute+12*time.Second)) {
		t.Errorf("span %v – %v", from, to)
	}
}

func TestTornIndexLineIsCut(t *testing.T) {
	dir := t.TempDir()
	cfg := archive.DefaultConfig()
	cfg.Dir = dir
	a := openArchive(t, cfg)
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Minute))
	for range 3 {
		f.segment(100, false)
	}
	a.Close()
	idx := filepath.Join(dir, "s", "archive-index.jsonl")
	fh, err := os.OpenFile(idx, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString(`{"k":"seg","r":"video","s":1,"msn":3,"pd`) // a crash mid-append
	fh.Close()
	a = openArchive(t, cfg)
	if n := len(a.Index("s").Rendition("video").Segments); n != 3 {
		t.Fatalf("%d segments after a torn line, want 3", n)
	}
	f = newFeeder(a, "s", 2, 3, time.Now())
	f.segment(100, true)
	a.Close()
	a = openArchive(t, cfg)
	defer a.Close()
	if n := len(a.Index("s").Rendition("video").Segments); n != 4 {
		t.Fatalf("%d segments after appending past the cut, want 4", n)
	}

	// A bad line in the middle is corruption, not a torn append: refuse it.
	b, _ := os.ReadFile(idx)
	os.WriteFile(idx, append([]byte("garbage\n"), b...), 0o644)
	if _, err := archive.New(cfg); err == nil {
		t.Fatal("a corrupt index was accepted")
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := archive.DefaultConfig()
	cfg.Dir, cfg.MaxSize, cfg.PruneEvery = dir, 3500, 20*time.Millisecond
	a := openArchive(t, cfg)
	defer a.Close()
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Hour))
	for range 6 {
		f.segment(1000, false)
	}
	testenv.Eventually(t, 5*time.Second, "archive pruned to 3 segments", func() bool {
		x := a.Index("s")
		return x != nil && len(x.Rendition("video").Segments) == 3 && x.Bytes == 3000
	})
	if _, err := a.Open(context.Background(), "s", "video", "seg2.m4s"); !errors.Is(err, archive.ErrNotFound) {
		t.Errorf("pruned segment still there: %v", err)
	}
	if _, err := a.Open(context.Background(), "s", "video", "seg3.m4s"); err != nil {
		t.Errorf("kept segment: %v", err)
	}
}

func TestRetentionByAge(t *testing.T) {
	cfg := archive.DefaultConfig()
	cfg.Dir, cfg.Retention, cfg.PruneEvery = t.TempDir(), 30*time.Second, 20*time.Millisecond
	a := openArchive(t, cfg)
	defer a.Close()
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-40*time.Second)) // segments end at -38 s … -18 s
	for range 11 {
		f.segment(10, false)
	}
	testenv.Eventually(t, 5*time.Second, "segments older than 30 s pruned", func() bool {
		x := a.Index("s")
		return x != nil && len(x.Rendition("video").Segments) > 0 && x.Rendition("video").Segments[0].MSN >= 4
	})
}
