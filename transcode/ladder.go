package transcode

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
)

// Preset names LoadLadder understands besides a file path.
const (
	// PresetPassthrough packages the published stream as it is: no ffmpeg,
	// renditions "video" and "audio".
	PresetPassthrough = "passthrough"
	// PresetDefault is the source passed through plus 720p, 480p, 360p and
	// 240p H.264 rungs (those above the source height are dropped).
	PresetDefault = "default"
)

// Default names of the passthrough rung and the audio rendition.
const (
	SourceName = "source"
	AudioName  = "audio"
)

// Ladder is the set of renditions every published stream is turned into.
type Ladder struct {
	// Rungs are the video renditions, at most one of them Passthrough. Their
	// order is the order of the renditions; the packager's segment cuts follow
	// the passthrough rung, or else the first transcoded one, so put the
	// highest first.
	Rungs []Rung
	// Audio is the one audio rendition every video rung shares.
	Audio Audio
	// Source is the preset name or file the ladder came from, for logs.
	Source string
}

// Rung is one video rendition of a ladder.
type Rung struct {
	// Name is the rendition name in the URLs (/live/{stream}/{name}/…).
	Name string
	// Passthrough serves the published video as it is; no other field applies.
	Passthrough bool
	// Width and Height bound the output picture. The source's aspect ratio is
	// kept and dimensions are rounded to even numbers; Width 0 means "whatever
	// the aspect ratio gives". Rungs taller than the source are dropped.
	Width, Height int
	// VideoBitrate is the target (-b:v), Maxrate and Bufsize the VBV limits
	// (-maxrate, -bufsize), all in bits per second (bits for Bufsize).
	VideoBitrate, Maxrate, Bufsize int64
	// Profile and Preset are handed to the encoder (-profile:v, -preset);
	// empty omits them. libx264 defaults: main, veryfast.
	Profile, Preset string
	// Encoder is the ffmpeg video encoder: libx264 (the tested default),
	// h264_nvenc, h264_vaapi, h264_qsv, … It must produce H.264.
	Encoder string
	// ExtraArgs are appended to the rung's ffmpeg output options (for
	// example "-tune", "zerolatency" or hardware device options).
	ExtraArgs []string
}

// Audio is the shared audio rendition.
type Audio struct {
	// Name is the rendition name, default "audio".
	Name string
	// Bitrate is used only when the published audio is not AAC and must be
	// re-encoded; AAC is passed through untouched. Default 128 kbit/s.
	Bitrate int64
}

// Passthrough reports whether the ladder transcodes nothing, so streams are
// handed to the origin unchanged and ffmpeg is never needed.
func (l *Ladder) Passthrough() bool {
	for _, r := range l.Rungs {
		if !r.Passthrough {
			return false
		}
	}
	return true
}

// String summarizes the ladder for logs: "default: source, 720p 1280x720@2800k, …".
func (l *Ladder) String() string {
	var parts []string
	for _, r := range l.Rungs {
		if r.Passthrough {
			parts = append(parts, r.Name+" (passthrough)")
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %dx%d@%dk", r.Name, r.Width, r.Height, r.VideoBitrate/1000))
	}
	return l.Source + ": " + strings.Join(parts, ", ")
}

// Plan returns the rungs a source of srcW×srcH gets: transcoded rungs taller
// than the source are dropped (never upscaled; an equal height is kept, as a
// lower-bitrate variant), the others get their real output size (aspect
// ratio kept, even dimensions), and the passthrough rung the source size.
// When nothing would be left, the smallest rung is kept at the source size.
func (l *Ladder) Plan(srcW, srcH int) []Rung {
	var out []Rung
	var smallest *Rung
	for i := range l.Rungs {
		r := l.Rungs[i]
		if r.Passthrough {
			r.Width, r.Height = srcW, srcH
			out = append(out, r)
			continue
		}
		if smallest == nil || r.Height < smallest.Height {
			smallest = &l.Rungs[i]
		}
		if srcH > 0 && r.Height > srcH {
			continue
		}
		r.Width, r.Height = fit(srcW, srcH, r.Width, r.Height)
		out = append(out, r)
	}
	if len(out) == 0 && smallest != nil {
		r := *smallest
		r.Width, r.Height = fit(srcW, srcH, 0, srcH)
		out = append(out, r)
	}
	return out
}

// fit returns the even size with the source's aspect ratio that fits in
// maxW×maxH (maxW 0: no width bound).
func fit(srcW, srcH, maxW, maxH int) (int, int) {
	if srcW <= 0 || srcH <= 0 {
		w := maxW
		if w == 0 {
			w = maxH * 16 / 9
		}
		return even(float64(w)), even(float64(maxH))
	}
	h := maxH
	w := float64(srcW) * float64(h) / float64(srcH)
	if maxW > 0 && w > float64(maxW)+0.5 {
		w = float64(maxW)
		return even(w), even(float64(srcH) * w / float64(srcW))
	}
	return even(w), even(float64(h))
}

// even rounds to the nearest even number, at least 2 (4:2:0 needs even sizes).
func even(v float64) int {
	n := int(math.Round(v/2)) * 2
	if n < 2 {
		n = 2
	}
	return n
}

// LoadLadder returns the named preset ("passthrough", "default") or reads a
// YAML ladder file. Errors are one line, fit for a command-line message.
//
// A file is either a list of rungs or a mapping with rungs and audio:
//
//	rungs:
//	  - name: source
//	    passthrough: true
//	  - name: 720p
//	    width: 1280          # optional: a bound; the aspect ratio is kept
//	    height: 720
//	    video_bitrate: 2800k
//	    maxrate: 2996k       # default 1.07 × video_bitrate
//	    bufsize: 4200k       # default 1.5 × video_bitrate
//	    profile: main        # libx264 default
//	    preset: veryfast     # libx264 default
//	    encoder: libx264     # or h264_nvenc, h264_vaapi, h264_qsv (untested)
//	    extra_args: ["-tune", "zerolatency"]
//	audio:
//	  name: audio
//	  bitrate: 128k          # only used when the source audio is not AAC
func LoadLadder(nameOrPath string) (*Ladder, error) {
	switch nameOrPath {
	case PresetPassthrough:
		return &Ladder{Source: PresetPassthrough, Rungs: []Rung{{Name: "video", Passthrough: true}},
			Audio: Audio{Name: AudioName, Bitrate: 128000}}, nil
	case PresetDefault:
		return DefaultLadder(), nil
	case "":
		return nil, errors.New("ladder: empty name (want passthrough, default or a YAML file)")
	}
	b, err := os.ReadFile(nameOrPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("ladder %q: no such preset (passthrough, default) or file", nameOrPath)
		}
		return nil, fmt.Errorf("ladder: %w", err)
	}
	l, err := ParseLadder(b)
	if err != nil {
		return nil, fmt.Errorf("ladder %s: %w", nameOrPath, err)
	}
	l.Source = nameOrPath
	return l, nil
}

// DefaultLadder returns the "default" preset: the source passed through and
// 720p/480p/360p/240p H.264 rungs with the usual bitrates.
func DefaultLadder() *Ladder {
	rung := func(name string, w, h int, kbps int64) Rung {
		return withDefaults(Rung{Name: name, Width: w, Height: h, VideoBitrate: kbps * 1000})
	}
	return &Ladder{
		Source: PresetDefault,
		Rungs: []Rung{
			{Name: SourceName, Passthrough: true},
			rung("720p", 1280, 720, 2800),
			rung("480p", 854, 480, 1400),
			rung("360p", 640, 360, 800),
			rung("240p", 426, 240, 400),
		},
		Audio: Audio{Name: AudioName, Bitrate: 128000},
	}
}

func withDefaults(r Rung) Rung {
	if r.Encoder == "" {
		r.Encoder = "libx264"
	}
	if r.Maxrate == 0 {
		r.Maxrate = r.VideoBitrate * 107 / 100
	}
	if r.Bufsize == 0 {
		r.Bufsize = r.VideoBitrate * 3 / 2
	}
	if r.Encoder == "libx264" {
		if r.Profile == "" {
			r.Profile = "main"
		}
		if r.Preset == "" {
			r.Preset = "veryfast"
		}
	}
	return r
}
