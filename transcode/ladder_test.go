package transcode

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestLoadLadderPresets(t *testing.T) {
	p, err := LoadLadder("passthrough")
	if err != nil || !p.Passthrough() {
		t.Fatalf("passthrough: %v %+v", err, p)
	}
	d, err := LoadLadder("default")
	if err != nil || d.Passthrough() {
		t.Fatalf("default: %v", err)
	}
	var names []string
	for _, r := range d.Rungs {
		names = append(names, r.Name)
	}
	if !slices.Equal(names, []string{"source", "720p", "480p", "360p", "240p"}) {
		t.Fatalf("default rungs %v", names)
	}
	r720 := d.Rungs[1]
	if r720.VideoBitrate != 2800000 || r720.Maxrate != 2996000 || r720.Bufsize != 4200000 ||
		r720.Encoder != "libx264" || r720.Profile != "main" || r720.Preset != "veryfast" {
		t.Errorf("720p rung %+v", r720)
	}
	t.Log(d.String())
}

// TestPlan: rungs above the source are dropped (an equal height is kept as
// a lower-bitrate variant), sizes keep the aspect ratio with even numbers.
func TestPlan(t *testing.T) {
	type size struct {
		name string
		w, h int
	}
	for _, tc := range []struct {
		w, h int
		want []size
	}{
		{640, 360, []size{{"source", 640, 360}, {"360p", 640, 360}, {"240p", 426, 240}}},
		{1920, 1080, []size{{"source", 1920, 1080}, {"720p", 1280, 720}, {"480p", 854, 480}, {"360p", 640, 360}, {"240p", 426, 240}}},
		{640, 480, []size{{"source", 640, 480}, {"480p", 640, 480}, {"360p", 480, 360}, {"240p", 320, 240}}},
		{1080, 1920, []size{{"source", 1080, 1920}, {"720p", 406, 720}, {"480p", 270, 480}, {"360p", 202, 360}, {"240p", 136, 240}}},
		{320, 180, []size{{"source", 320, 180}}},
	} {
		var got []size
		for _, r := range DefaultLadder().Plan(tc.w, tc.h) {
			got = append(got, size{r.Name, r.Width, r.Height})
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%dx%d: plan %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
	// Without a passthrough rung something is always left, never upscaled.
	l := &Ladder{Rungs: []Rung{withDefaults(Rung{Name: "720p", Height: 720, VideoBitrate: 2800000}),
		withDefaults(Rung{Name: "480p", Height: 480, VideoBitrate: 1400000})}}
	if p := l.Plan(640, 360); len(p) != 1 || p[0].Name != "480p" || p[0].Width != 640 || p[0].Height != 360 {
		t.Errorf("plan without a fitting rung: %+v", p)
	}
	// A width bound wins when the aspect ratio would exceed it.
	l = &Ladder{Rungs: []Rung{withDefaults(Rung{Name: "sq", Width: 320, Height: 240, VideoBitrate: 500000})}}
	if p := l.Plan(1920, 1080); p[0].Width != 320 || p[0].Height != 180 {
		t.Errorf("bounded rung: %dx%d, want 320x180", p[0].Width, p[0].Height)
	}
}

func TestParseLadder(t *testing.T) {
	good := `
rungs:
  - name: src
    passthrough: true
  - name: hd
    height: 720
    width: 1280
    video_bitrate: 2.5M
    maxrate: 3000k
    bufsize: 5000000
    preset: faster
    extra_args: ["-tune", "zerolatency"]
  - name: low
    height: 240
    video_bitrate: 300k
    encoder: h264_nvenc
    preset: p4
audio:
  bitrate: 96k
`
	l, err := ParseLadder([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	hd, low := l.Rungs[1], l.Rungs[2]
	if hd.VideoBitrate != 2500000 || hd.Maxrate != 3000000 || hd.Bufsize != 5000000 || hd.Preset != "faster" ||
		hd.Profile != "main" || !slices.Equal(hd.ExtraArgs, []string{"-tune", "zerolatency"}) {
		t.Errorf("hd %+v", hd)
	}
	if low.Encoder != "h264_nvenc" || low.Preset != "p4" || low.Profile != "" || low.Maxrate != 321000 || low.Bufsize != 450000 {
		t.Errorf("low %+v", low)
	}
	if l.Audio.Name != "audio" || l.Audio.Bitrate != 96000 {
		t.Errorf("audio %+v", l.Audio)
	}
	// A bare list of rungs works too.
	if l, err := ParseLadder([]byte("- {name: a, height: 360, video_bitrate: 800k}\n")); err != nil || len(l.Rungs) != 1 {
		t.Errorf("list form: %v", err)
	}
}

func TestParseLadderErrors(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown field", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, bitrate: 1}\n", `unknown field "bitrate"`},
		{"unknown top field", "rung: []\n", `unknown field "rung"`},
		{"height 0", "rungs:\n  - {name: a, height: 0, video_bitrate: 800k}\n", "height 0"},
		{"negative height", "rungs:\n  - {name: a, height: -360, video_bitrate: 800k}\n", "height -360"},
		{"no height", "rungs:\n  - {name: a, video_bitrate: 800k}\n", "height missing"},
		{"width 0", "rungs:\n  - {name: a, width: 0, height: 360, video_bitrate: 800k}\n", "width 0"},
		{"duplicate", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k}\n  - {name: a, height: 240, video_bitrate: 400k}\n", `duplicate name "a"`},
		{"duplicate of audio", "rungs:\n  - {name: audio, height: 360, video_bitrate: 800k}\n", `duplicate name "audio"`},
		{"bad name", "rungs:\n  - {name: 'a/b', height: 360, video_bitrate: 800k}\n", `bad name "a/b"`},
		{"no name", "rungs:\n  - {height: 360, video_bitrate: 800k}\n", "name missing"},
		{"bad bitrate", "rungs:\n  - {name: a, height: 360, video_bitrate: fast}\n", `bad bitrate "fast"`},
		{"zero bitrate", "rungs:\n  - {name: a, height: 360, video_bitrate: 0}\n", "out of range"},
		{"no bitrate", "rungs:\n  - {name: a, height: 360}\n", "video_bitrate missing"},
		{"maxrate below", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, maxrate: 500k}\n", "maxrate"},
		{"bad profile", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, profile: ultra}\n", `profile "ultra"`},
		{"bad preset", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, preset: warp}\n", `preset "warp"`},
		{"not h264", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, encoder: libx265}\n", `encoder "libx265": want an H.264 encoder`},
		{"reserved arg", "rungs:\n  - {name: a, height: 360, video_bitrate: 800k, extra_args: [-f, flv]}\n", "-f is set by the transcoder"},
		{"two passthrough", "rungs:\n  - {name: a, passthrough: true}\n  - {name: b, passthrough: true}\n", "only one rung"},
		{"passthrough with size", "rungs:\n  - {name: a, passthrough: true, height: 360}\n", "passthrough rung takes no"},
		{"empty", "", "no rungs"},
		{"bad audio name", "rungs:\n  - {name: a, passthrough: true}\naudio: {name: 'x y'}\n", "audio: bad name"},
		{"not yaml", "rungs: [\n", "did not find"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLadder([]byte(tc.yaml))
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q, want one line containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadLadderFile(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("rungs:\n  - {name: a, height: 0, video_bitrate: 800k}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadLadder(bad)
	if err == nil || !strings.HasPrefix(err.Error(), "ladder "+bad+": rung 1 (\"a\"): height 0") {
		t.Errorf("error %v", err)
	}
	if _, err := LoadLadder(filepath.Join(dir, "nope.yaml")); err == nil || !strings.Contains(err.Error(), "no such preset") {
		t.Errorf("missing file: %v", err)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("- {name: only, height: 240, video_bitrate: 400k}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := LoadLadder(good); err != nil || l.Source != good || l.Passthrough() {
		t.Errorf("good file: %v %+v", err, l)
	}
}

func TestFFmpegArgs(t *testing.T) {
	plan := DefaultLadder().Plan(640, 360)
	args := strings.Join(ffmpegArgs(plan[1:], &Audio{Bitrate: 128000}, 30, pipeline{input: "pipe:0",
		outputs: []string{"pipe:3", "pipe:4", "pipe:5"}, progress: "pipe:6"}), " ")
	for _, want := range []string{
		"-progress pipe:6", "-f mpegts -i pipe:0",
		"-vf scale=640:360 -c:v libx264 -preset veryfast -profile:v main -b:v 800000 -maxrate 856000 -bufsize 1200000",
		"-force_key_frames source -sc_threshold 0 -fps_mode passthrough",
		"-x264-params force-cfr=1:fps=30 -f mp4 -movflags frag_every_frame+empty_moov+default_base_moof -flush_packets 1 pipe:3",
		"-vf scale=426:240", "pipe:4", "-map 0:a:0 -vn -sn -dn -c:a aac -b:a 128000", "pipe:5",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("args lack %q:\n%s", want, args)
		}
	}
	if got := x264Params(Rung{Encoder: "libx264", ExtraArgs: []string{"-x264-params", "keyint=60"}}, 29.97); !slices.Equal(got,
		[]string{"-x264-params", "keyint=60:force-cfr=1:fps=30000/1001"}) {
		t.Errorf("merged x264 params %v", got)
	}
	if got := x264Params(Rung{Encoder: "h264_nvenc", ExtraArgs: []string{"-rc", "cbr"}}, 30); !slices.Equal(got, []string{"-rc", "cbr"}) {
		t.Errorf("nvenc args %v", got)
	}
}
