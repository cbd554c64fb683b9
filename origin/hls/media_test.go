package hls

import (
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

var cfg = Config{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second}

// seg builds a segment of n 200 ms parts at 90 kHz.
func seg(msn int64, session int, disc bool, n int, complete bool) live.Segment {
	s := live.Segment{MSN: msn, Session: session, Discontinuity: disc, Complete: complete,
		PDT: time.Unix(1700000000, 0).Add(time.Duration(msn) * 2 * time.Second)}
	if disc {
		s.DiscSeq = 1
	}
	for i := 0; i < n; i++ {
		s.Parts = append(s.Parts, &live.Part{Index: i, Duration: 18000, Independent: i == 0, Data: []byte{1}})
		s.Duration += 18000
		s.Size++
	}
	return s
}

func snap(segs ...live.Segment) live.Snapshot {
	return live.Snapshot{Name: "video", Video: true, Active: true, Timescale: 90000,
		Info: cmaf.Info{Codec: "avc1.64001f", Width: 1280, Height: 720, FPS: 30}, Segments: segs}
}

func parse(t *testing.T, b []byte) *playlist.Media {
	t.Helper()
	var m playlist.Media
	if err := m.Unmarshal(b); err != nil {
		t.Fatalf("gohlslib rejects our playlist: %v\n%s", err, b)
	}
	return &m
}

func TestMediaNewInitAfterDiscontinuity(t *testing.T) {
	out, err := Media(snap(seg(10, 1, false, 10, true), seg(11, 1, false, 10, true), seg(12, 2, true, 10, true), seg(13, 2, false, 3, false)),
		Request{}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(out)
	want := "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"\n"
	if i, j := strings.Index(text, want), strings.Index(text, "seg12.m4s"); i < 0 || i > j || strings.Index(text, "seg11.m4s") > i {
		t.Errorf("new EXT-X-MAP must follow the discontinuity before seg12:\n%s", text)
	}
	if !strings.Contains(text, `#EXT-X-MAP:URI="init1.mp4"`) {
		t.Errorf("first init missing:\n%s", text)
	}
	m := parse(t, out)
	if m.PreloadHint == nil || m.PreloadHint.URI != "part13.3.m4s" {
		t.Errorf("preload hint %+v", m.PreloadHint)
	}
}

// A publisher that reconnects produces a discontinuity inside the segment in
// progress, which gohlslib alone cannot express before trailing parts.
func TestMediaDiscontinuityBeforeTrailingParts(t *testing.T) {
	out, err := Media(snap(seg(10, 1, false, 10, true), seg(11, 2, true, 2, false)), Request{}, nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := "seg10.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"\n#EXT-X-PART:DURATION=0.20000,URI=\"part11.0.m4s\""
	if !strings.Contains(string(out), want) {
		t.Errorf("want %q in:\n%s", want, out)
	}
	parse(t, out)
}

func TestMediaDeltaUpdate(t *testing.T) {
	var segs []live.Segment
	for i := int64(0); i < 10; i++ {
		segs = append(segs, seg(100+i, 1, false, 10, true))
	}
	segs = append(segs, seg(110, 1, false, 4, false))
	full := parse(t, must(Media(snap(segs...), Request{}, nil, cfg)))
	delta := parse(t, must(Media(snap(segs...), Request{Skip: true}, nil, cfg)))
	// CAN-SKIP-UNTIL is 6 target durations (12 s): of 20 s, the oldest 4
	// segments (8 s) can go, keeping at least 12 s.
	if delta.Skip == nil || delta.Skip.SkippedSegments != 4 {
		t.Fatalf("skip = %+v, want 4 segments", delta.Skip)
	}
	if delta.MediaSequence != full.MediaSequence || delta.Segments[0].URI != "seg104.m4s" || len(delta.Segments) != 6 {
		t.Errorf("delta: msn %d, first %s, %d segments", delta.MediaSequence, delta.Segments[0].URI, len(delta.Segments))
	}
	if full.Skip != nil || len(full.Segments) != 10 {
		t.Errorf("full playlist skipped segments")
	}
	if len(delta.Parts) != 4 || delta.PreloadHint == nil {
		t.Errorf("delta lost the trailing parts or the hint")
	}
}

func TestTargetDurationGrowsWithLongGOP(t *testing.T) {
	long := seg(5, 1, false, 25, true) // 5 s segment from a 5 s GOP
	if td := TargetDuration(snap(seg(4, 1, false, 10, true), long), cfg); td != 5 {
		t.Errorf("target duration %d, want 5", td)
	}
}

func TestMultivariant(t *testing.T) {
	audio := live.Snapshot{Name: "audio", Timescale: 48000, Info: cmaf.Info{Codec: "mp4a.40.2", SampleRate: 48000, Channels: 2},
		Segments: []live.Segment{{MSN: 1, Complete: true, Duration: 96000, Size: 16000}}}
	video := snap(seg(1, 1, false, 10, true))
	video.Segments[0].Size = 250000 // 1 Mbit/s over 2 s
	out := must(Multivariant([]live.Snapshot{video, audio}))
	var m playlist.Multivariant
	if err := m.Unmarshal(out); err != nil {
		t.Fatal(err)
	}
	v := m.Variants[0]
	if v.Bandwidth != 1_000_000+64_000 || *v.AverageBandwidth != 1_064_000 || v.Resolution != "1280x720" ||
		strings.Join(v.Codecs, ",") != "avc1.64001f,mp4a.40.2" || v.Audio != AudioGroup {
		t.Errorf("variant %+v", v)
	}
	if len(m.Renditions) != 1 || *m.Renditions[0].Channels != "2" || !m.Renditions[0].Default {
		t.Errorf("audio rendition %+v", m.Renditions)
	}
	// Audio only: one variant pointing at the audio playlist.
	out = must(Multivariant([]live.Snapshot{audio}))
	if !strings.Contains(string(out), "audio/index.m3u8") || strings.Contains(string(out), "EXT-X-MEDIA") {
		t.Errorf("audio-only multivariant:\n%s", out)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}
