package clip_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/livecdn/livecdn/internal/testenv"
	"github.com/livecdn/livecdn/origin/clip"
)

// fragmented encodes 6 s of 30 fps video with a keyframe every second as
// fragmented MP4 and splits it into the init section and one segment per
// fragment, each placed in wall-clock time from t0.
func fragmented(t *testing.T, t0 time.Time) *clip.Track {
	t.Helper()
	testenv.NeedFFmpeg(t)
	out := filepath.Join(t.TempDir(), "f.mp4")
	cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=30:duration=6",
		"-c:v", "libx264", "-preset", "ultrafast", "-bf", "2", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
		"-video_track_timescale", "90000", "-movflags", "frag_keyframe+empty_moov+default_base_moof", "-f", "mp4", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	parsed, err := mp4.DecodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var init bytes.Buffer
	parsed.Init.Encode(&init)
	tr := &clip.Track{Init: init.Bytes()}
	for _, seg := range parsed.Segments {
		for _, frag := range seg.Fragments {
			var b bytes.Buffer
			if err := frag.Encode(&b); err != nil {
				t.Fatal(err)
			}
			start := int64(frag.Moof.Traf.Tfdt.BaseMediaDecodeTime())
			tr.Segments = append(tr.Segments, clip.Segment{Data: b.Bytes(), Start: start,
				PDT: t0.Add(time.Duration(start) * time.Second / 90000)})
		}
	}
	if len(tr.Segments) < 5 {
		t.Fatalf("%d fragments", len(tr.Segments))
	}
	return tr
}

func TestBuildCutsOnKeyframe(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	tr := fragmented(t, t0)
	b, err := clip.Build(tr, nil, t0.Add(1500*time.Millisecond), t0.Add(4200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "clip.mp4")
	os.WriteFile(file, b, 0o644)
	if string(b[4:8]) != "ftyp" || string(b[40:44]) != "moov" {
		t.Errorf("not ftyp, moov first: %q %q", b[4:8], b[40:44])
	}
	// From the keyframe at 1 s (the last one before 1.5 s) to 4.2 s: 3.2 s.
	if d := testenv.FFprobe(t, file).Duration(); d < 3.1 || d > 3.35 {
		t.Errorf("clip lasts %.3fs, want 3.2", d)
	}
	pkts := testenv.FFprobePackets(t, file, "v:0")
	if len(pkts) != 96 || !pkts[0].Key {
		t.Errorf("%d packets, first key=%v; want 96 starting on a keyframe", len(pkts), len(pkts) > 0 && pkts[0].Key)
	}
	// B-frames: the first frame is presented at 0 (the edit list hides the composition offset).
	if pkts[0].PTS > 0.001 {
		t.Errorf("first frame presented at %.3fs", pkts[0].PTS)
	}
	if err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").Run(); err != nil {
		t.Errorf("ffmpeg cannot decode the clip: %v", err)
	}
}

func TestBuildErrors(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	if _, err := clip.Build(nil, nil, t0, t0.Add(time.Second)); !errors.Is(err, clip.ErrEmpty) {
		t.Errorf("no tracks: %v", err)
	}
	if _, err := clip.Build(&clip.Track{Init: []byte("junk")}, nil, t0, t0.Add(time.Second)); err == nil {
		t.Error("a junk init section was accepted")
	}
	tr := fragmented(t, t0)
	if _, err := clip.Build(tr, nil, t0.Add(time.Hour), t0.Add(2*time.Hour)); !errors.Is(err, clip.ErrEmpty) {
		t.Errorf("range after the media: %v", err)
	}
}
