package cmaf

import (
	"bytes"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// A real 320x180 High-profile SPS/PPS as x264 writes them.
var (
	testSPS = []byte{0x67, 0x64, 0x00, 0x0c, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60}
	testPPS = []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
)

func testTracks() []*ingest.Track {
	return []*ingest.Track{
		{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}, ClockRate: 90000},
		{Codec: &codecs.MPEG4Audio{Config: mpeg4audio.AudioSpecificConfig{
			Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}}, ClockRate: 48000},
	}
}

// rtmpFeed generates units as an RTMP publisher delivers them: 30 fps video
// with a keyframe every gop frames and 48 kHz AAC, both with timestamps
// rounded to whole milliseconds, interleaved by time.
func rtmpFeed(d time.Duration, gop int, fn func(*ingest.Unit)) {
	frames := int(d.Seconds() * 30)
	aframes := int(d.Seconds() * 48000 / 1024)
	vi, ai := 0, 0
	idr := []byte{0x65, 0x88, 0x84, 0x00}
	p := []byte{0x41, 0x9a, 0x02, 0x00}
	for vi < frames || ai < aframes {
		vms := int64(vi) * 1000 / 30
		ams := int64(ai) * 1024 * 1000 / 48000
		if vi < frames && (ai >= aframes || vms <= ams) {
			data := p
			if vi%gop == 0 {
				data = idr
			}
			fn(&ingest.Unit{Track: 0, DTS: vms * 90, PTS: vms * 90, Key: vi%gop == 0, Data: [][]byte{data}})
			vi++
		} else {
			fn(&ingest.Unit{Track: 1, DTS: ams * 48, PTS: ams * 48, Key: true, Data: [][]byte{{0x21, 0x10, 0x04}}})
			ai++
		}
	}
}

type segInfo struct {
	start, dur int64
	parts      int
}

func collect(t *testing.T, cfg Config, d time.Duration, gop int) (map[int64]*segInfo, map[int64]*segInfo, []*Part) {
	t.Helper()
	segs := []map[int64]*segInfo{{}, {}}
	var parts []*Part
	var next [2]struct {
		msn   int64
		index int
		end   int64
	}
	p, err := NewPackager(cfg, testTracks(), 100, func(pt *Part) {
		n := &next[pt.Track]
		if n.msn != 0 && (pt.MSN != n.msn || pt.Index != n.index) {
			t.Fatalf("track %d: part %d.%d after %d.%d expected", pt.Track, pt.MSN, pt.Index, n.msn, n.index)
		}
		if n.end != 0 && pt.Start != n.end {
			t.Fatalf("track %d: part %d.%d starts at %d, previous ended at %d", pt.Track, pt.MSN, pt.Index, pt.Start, n.end)
		}
		s := segs[pt.Track][pt.MSN]
		if s == nil {
			s = &segInfo{start: pt.Start}
			segs[pt.Track][pt.MSN] = s
		}
		s.dur += pt.Duration
		s.parts++
		n.end = pt.Start + pt.Duration
		if pt.Last {
			n.msn, n.index = pt.MSN+1, 0
		} else {
			n.msn, n.index = pt.MSN, pt.Index+1
		}
		if len(parts) < 50 {
			parts = append(parts, pt)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rtmpFeed(d, gop, func(u *ingest.Unit) {
		if err := p.Write(u); err != nil {
			t.Fatal(err)
		}
	})
	p.Flush()
	return segs[0], segs[1], parts
}

func TestPackagerAlignedSegmentsAndParts(t *testing.T) {
	cfg := DefaultConfig()
	video, audio, parts := collect(t, cfg, 20*time.Second, 60)
	if len(video) != 10 || len(audio) != 10 {
		t.Fatalf("want 10 segments per track, got video %d audio %d", len(video), len(audio))
	}
	for msn := int64(100); msn < 110; msn++ {
		v, a := video[msn], audio[msn]
		if v == nil || a == nil {
			t.Fatalf("segment %d missing: video %v audio %v", msn, v, a)
		}
		// The final frame's duration is estimated at the flush: ms rounding leaves ±1 ms.
		if d := v.dur - 180000; d < -90 || d > 90 {
			t.Errorf("video segment %d lasts %d ticks, want 180000", msn, v.dur)
		}
		// Audio cuts at its first frame at or after the video boundary.
		vs := float64(v.start) / 90000
		as := float64(a.start) / 48000
		if as < vs || as-vs > 1024.0/48000 {
			t.Errorf("segment %d: audio starts at %.4fs, video at %.4fs", msn, as, vs)
		}
	}
	maxPart := int64(cfg.PartTarget/time.Millisecond+1) * 90
	for _, pt := range parts {
		if pt.Track == 0 && pt.Duration > maxPart {
			t.Errorf("video part %d.%d lasts %d ticks > target %d", pt.MSN, pt.Index, pt.Duration, maxPart)
		}
		if pt.Track == 0 && pt.Independent != (pt.Index == 0) {
			t.Errorf("video part %d.%d independent=%v", pt.MSN, pt.Index, pt.Independent)
		}
	}
	checkFragment(t, parts[0])
}

// checkFragment parses a part with an independent MP4 library.
func checkFragment(t *testing.T, pt *Part) {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(pt.Data))
	if err != nil {
		t.Fatalf("decode part: %v", err)
	}
	if len(f.Segments) != 1 || len(f.Segments[0].Fragments) != 1 {
		t.Fatalf("want one fragment")
	}
	fr := f.Segments[0].Fragments[0]
	traf := fr.Moof.Traf
	if got := traf.Tfdt.BaseMediaDecodeTime(); got != uint64(pt.Start) {
		t.Errorf("tfdt %d, want %d", got, pt.Start)
	}
	var dur uint64
	for _, s := range traf.Trun.Samples {
		dur += uint64(s.Dur)
	}
	if dur != uint64(pt.Duration) {
		t.Errorf("trun durations sum to %d, part says %d", dur, pt.Duration)
	}
}

// An hour of publisher timestamps rounded to milliseconds, fed as fast as
// possible: the media timeline must end exactly where the publisher's clock
// does, for video and audio alike.
func TestPackagerNoDriftOverAnHour(t *testing.T) {
	if testing.Short() {
		t.Skip("long input")
	}
	video, audio, _ := collect(t, DefaultConfig(), time.Hour, 60)
	var vEnd, aEnd int64
	for _, s := range video {
		vEnd = max(vEnd, s.start+s.dur)
	}
	for _, s := range audio {
		aEnd = max(aEnd, s.start+s.dur)
	}
	// Only the very last frame's duration is a guess (ms-rounded): 1 ms slack, no more.
	if d := vEnd - 3600*90000; d < -90 || d > 90 {
		t.Errorf("video timeline ends at %d ticks, want %d ±90", vEnd, 3600*90000)
	}
	wantA := int64(3600*48000/1024) * 1024
	if aEnd != wantA {
		t.Errorf("audio timeline ends at %d ticks, want %d (exact 1024-sample frames)", aEnd, wantA)
	}
	if len(video) != 1800 || len(audio) != 1800 {
		t.Errorf("want 1800 segments per track, got %d and %d", len(video), len(audio))
	}
}

func TestPackagerLongGOPAndClockJump(t *testing.T) {
	var got []*Part
	p, err := NewPackager(DefaultConfig(), testTracks()[:1], 1, func(pt *Part) { got = append(got, pt) })
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ { // 10 s, keyframe every 4 s, clock reset to 0 at 5 s
		dts := int64(i) * 3000
		if i >= 150 {
			dts = int64(i-150) * 3000
		}
		key := i%120 == 0
		_ = p.Write(&ingest.Unit{DTS: dts, PTS: dts, Key: key, Data: [][]byte{{0x41, 0}}})
	}
	p.Flush()
	var end int64
	for _, pt := range got {
		if pt.Start != end {
			t.Fatalf("part %d.%d starts at %d, want %d", pt.MSN, pt.Index, pt.Start, end)
		}
		end += pt.Duration
	}
	if end != 300*3000 {
		t.Errorf("timeline ends at %d, want %d", end, 300*3000)
	}
	if last := got[len(got)-1]; last.MSN != 3 || !last.Last {
		t.Errorf("last part %d.%d last=%v, want segment 3 closed", last.MSN, last.Index, last.Last)
	}
}

func BenchmarkPackager(b *testing.B) {
	tracks := testTracks()
	payload := bytes.Repeat([]byte{0x41}, 1500)
	p, _ := NewPackager(DefaultConfig(), tracks, 1, func(*Part) {})
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for i := 0; b.Loop(); i++ {
		dts := int64(i) * 3000
		_ = p.Write(&ingest.Unit{Track: 0, DTS: dts, PTS: dts, Key: i%60 == 0, Data: [][]byte{payload}})
	}
}

// BenchmarkMarshalBaseline is the floor BenchmarkPackager is read against in
// the same run: only the fMP4 writing of the same 1500-byte frames, six per
// fragment as 200 ms parts at 30 fps hold them, with no cutting decisions.
func BenchmarkMarshalBaseline(b *testing.B) {
	payload := bytes.Repeat([]byte{0x41}, 1500)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	var samples []*fmp4.Sample
	for i := 0; b.Loop(); i++ {
		s := &fmp4.Sample{Duration: 3000}
		_ = s.FillH264(0, [][]byte{payload})
		samples = append(samples, s)
		if len(samples) == 6 {
			frag := fmp4.Part{SequenceNumber: uint32(i), Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(i) * 3000, Samples: samples}}}
			var buf seekablebuffer.Buffer
			_ = frag.Marshal(&buf)
			samples = nil
		}
	}
}
