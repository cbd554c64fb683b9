package transcode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/ingest/mpegts"
	"github.com/livecdn/livecdn/internal/testenv"
)

// overhead is one measurement of the benchmark: the same ladder
// encoded by ffmpeg alone from a file, then through the transcode package.
type overhead struct {
	aloneCPU, aloneWall time.Duration
	pkgFFmpegCPU, goCPU time.Duration
	pkgWall             time.Duration
	ladder              string // the rungs, for the log
}

func (o overhead) cpuRatio() float64 {
	return (o.pkgFFmpegCPU + o.goCPU).Seconds() / o.aloneCPU.Seconds()
}
func (o overhead) wallRatio() float64 { return o.pkgWall.Seconds() / o.aloneWall.Seconds() }

// benchLadder is small so the 60 s benchmark stays quick: 320x180 source,
// passthrough plus two rungs.
func benchLadder() *Ladder {
	return &Ladder{Source: "bench", Audio: Audio{Name: AudioName, Bitrate: 128000}, Rungs: []Rung{
		{Name: SourceName, Passthrough: true},
		withDefaults(Rung{Name: "180p", Height: 180, VideoBitrate: 400000}),
		withDefaults(Rung{Name: "120p", Height: 120, VideoBitrate: 200000}),
	}}
}

func measureOverhead(tb testing.TB, reps int) []overhead {
	tb.Helper()
	testenv.NeedFFmpeg(tb)
	dir := tb.TempDir()
	src := filepath.Join(dir, "src.ts")
	// 60 s like a publisher sends it: 2 s GOP, AAC audio.
	gen := exec.Command("ffmpeg", testenv.Source{Size: overheadSize(), Duration: 60 * time.Second}.Args("mpegts", src)...)
	if out, err := gen.CombinedOutput(); err != nil {
		tb.Fatalf("generate source: %v\n%s", err, out)
	}

	// The access units, as ingest would deliver them, read before timing.
	var units ingesttest.Session
	f, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	if err := mpegts.Read(context.Background(), f, &units); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	tracks := units.Tracks()
	w, h, fps, err := sourceFormat(tracks[0].Codec)
	if err != nil {
		tb.Fatal(err)
	}
	l := benchLadder()
	if overheadSize() != "320x180" {
		l = DefaultLadder()
	}
	var rungs []Rung
	for _, r := range l.Plan(w, h) {
		if !r.Passthrough {
			rungs = append(rungs, r)
		}
	}

	// Alternate the two runs, each pair one sample: the machine is shared,
	// so the caller takes the median of the pairs' ratios.
	var out []overhead
	for range reps {
		a := runAlone(tb, dir, src, rungs, fps)
		p := runPackage(tb, l, tracks, units.Units(), len(rungs))
		p.aloneCPU, p.aloneWall = a.aloneCPU, a.aloneWall
		for _, r := range rungs {
			p.ladder += fmt.Sprintf(" %s %dx%d", r.Name, r.Width, r.Height)
		}
		out = append(out, p)
	}
	return out
}

// overheadSize is the benchmark's source size: 320x180 into the small bench
// ladder, or LIVECDN_OVERHEAD_SIZE (e.g. 1280x720) into the default ladder,
// where ffmpeg's work per frame is larger and the Go side's share smaller.
func overheadSize() string {
	if v := os.Getenv("LIVECDN_OVERHEAD_SIZE"); v != "" {
		return v
	}
	return "320x180"
}

// median returns the median of f over rs.
func median(rs []overhead, f func(overhead) float64) float64 {
	vs := make([]float64, len(rs))
	for i, o := range rs {
		vs[i] = f(o)
	}
	sort.Float64s(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// countSink counts the rung frames (tracks 1..video-1) it is given.
type countSink struct {
	n     *atomic.Int64
	video int
}

func (c countSink) WriteUnit(u *ingest.Unit) error {
	if u.Track >= 1 && u.Track < c.video {
		c.n.Add(1)
	}
	return nil
}
func (c countSink) Close() {}

func childRusage() time.Duration { return rusage(syscall.RUSAGE_CHILDREN) }
func selfRusage() time.Duration  { return rusage(syscall.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestOverhead is the benchmark as a test that logs the figure: the
// Go side must cost almost nothing next to ffmpeg (goal ≤ 1.05×).
func TestOverhead(t *testing.T) {
	if testing.Short() || testenv.Race {
		t.Skip("benchmark: skipped with -short and -race (the race detector slows the Go side ten-fold)")
	}
	runs := 5
	if v, err := strconv.Atoi(os.Getenv("LIVECDN_OVERHEAD_RUNS")); err == nil && v > 0 {
		runs = v
	}
	all := measureOverhead(t, runs)
	for i, o := range all {
		t.Logf("run %d: 60 s of %s into rungs%s: ffmpeg alone %.2fs CPU / %.2fs wall; through transcode %.2fs CPU (ffmpeg %.2fs + Go %.2fs) / %.2fs wall; ratio CPU %.3f×, wall %.3f×",
			i+1, overheadSize(), o.ladder, o.aloneCPU.Seconds(), o.aloneWall.Seconds(), (o.pkgFFmpegCPU + o.goCPU).Seconds(), o.pkgFFmpegCPU.Seconds(),
			o.goCPU.Seconds(), o.pkgWall.Seconds(), o.cpuRatio(), o.wallRatio())
	}
	cpu, wall := median(all, overhead.cpuRatio), median(all, overhead.wallRatio)
	goShare := median(all, func(o overhead) float64 { return o.goCPU.Seconds() / o.aloneCPU.Seconds() })
	ffShare := median(all, func(o overhead) float64 { return o.pkgFFmpegCPU.Seconds() / o.aloneCPU.Seconds() })
	t.Logf("median of %d runs: CPU %.3f× (ffmpeg %.3f× + Go %.3f× of ffmpeg alone), wall %.3f×", runs, cpu, ffShare, goShare, wall)
	if cpu > 1.5 {
		t.Errorf("transcoding through the package costs %.2f× the CPU of ffmpeg alone", cpu)
	}
}

// BenchmarkOverhead reports the same figures as metrics (go test -bench Overhead -benchtime 1x).
func BenchmarkOverhead(b *testing.B) {
	for range b.N {
		o := measureOverhead(b, 1)[0]
		b.ReportMetric(o.cpuRatio(), "cpu-ratio")
		b.ReportMetric(o.wallRatio(), "wall-ratio")
		b.ReportMetric(o.goCPU.Seconds(), "go-cpu-s")
	}
}

// runAlone runs the ladder's ffmpeg command on the file, as an operator would.
func runAlone(tb testing.TB, dir, src string, rungs []Rung, fps float64) overhead {
	tb.Helper()
	pl := pipeline{input: src}
	for i := range rungs {
		pl.outputs = append(pl.outputs, filepath.Join(dir, rungs[i].Name+".mp4"))
	}
	before := childRusage()
	start := time.Now()
	cmd := exec.Command("ffmpeg", append([]string{"-y"}, ffmpegArgs(rungs, nil, fps, pl)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg alone: %v\n%s", err, out)
	}
	return overhead{aloneWall: time.Since(start), aloneCPU: childRusage() - before}
}

// runPackage feeds every unit through a Transcoder as fast as it takes them
// and closes the session; Close returns once ffmpeg has finished.
func runPackage(tb testing.TB, l *Ladder, tracks []*ingest.Track, units []ingest.Unit, nRungs int) overhead {
	tb.Helper()
	var frames atomic.Int64
	next := ingest.HandlerFunc(func(s *ingest.Stream) (ingest.Sink, error) {
		return countSink{n: &frames, video: nRungs + 1}, nil
	})
	logs := &ingesttest.Logs{}
	tc := New(Config{Ladder: l, MinSpeed: -1, StopTimeout: 5 * time.Minute, InitTimeout: time.Minute,
		QueueBytes: 1 << 30, Logger: logs.Logger()}, next)
	defer tc.Close()
	before, selfBefore := childRusage(), selfRusage()
	start := time.Now()
	sink, err := tc.Publish(&ingest.Stream{Name: "bench", Protocol: "file", Tracks: tracks, Started: start})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range units {
		u := units[i]
		u.Received = time.Now()
		if err := sink.WriteUnit(&u); err != nil {
			tb.Fatal(err)
		}
	}
	sink.Close()
	o := overhead{pkgWall: time.Since(start), pkgFFmpegCPU: childRusage() - before, goCPU: selfRusage() - selfBefore}
	if want := int64(60 * 30 * nRungs); frames.Load() < want*95/100 {
		tb.Fatalf("the rungs delivered %d frames, want about %d\n%s", frames.Load(), want, logs.String())
	}
	return o
}
