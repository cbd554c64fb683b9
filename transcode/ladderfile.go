package transcode

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/livecdn/livecdn/ingest"
)

type ladderYAML struct {
	Rungs []rungYAML `yaml:"rungs"`
	Audio *audioYAML `yaml:"audio"`
}

type rungYAML struct {
	Name         string   `yaml:"name"`
	Passthrough  bool     `yaml:"passthrough"`
	Width        *int     `yaml:"width"`
	Height       *int     `yaml:"height"`
	VideoBitrate *bitrate `yaml:"video_bitrate"`
	Maxrate      *bitrate `yaml:"maxrate"`
	Bufsize      *bitrate `yaml:"bufsize"`
	Profile      string   `yaml:"profile"`
	Preset       string   `yaml:"preset"`
	Encoder      string   `yaml:"encoder"`
	ExtraArgs    []string `yaml:"extra_args"`
}

type audioYAML struct {
	Name    string   `yaml:"name"`
	Bitrate *bitrate `yaml:"bitrate"`
}

// bitrate is "2800k", "2.8M", "2800000" or a YAML integer; the error names the line.
type bitrate int64

var bitrateRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)([kKmM]?)$`)

func (b *bitrate) UnmarshalYAML(n *yaml.Node) error {
	m := bitrateRE.FindStringSubmatch(strings.TrimSpace(n.Value))
	if n.Kind != yaml.ScalarNode || m == nil {
		return fmt.Errorf("line %d: bad bitrate %q (want e.g. 2800k, 2.8M or 2800000)", n.Line, n.Value)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return fmt.Errorf("line %d: bad bitrate %q", n.Line, n.Value)
	}
	switch strings.ToLower(m[2]) {
	case "k":
		v *= 1e3
	case "m":
		v *= 1e6
	}
	if v < 1000 || v > 1e9 {
		return fmt.Errorf("line %d: bitrate %q out of range (1k to 1000M)", n.Line, n.Value)
	}
	*b = bitrate(math.Round(v))
	return nil
}

var (
	x264Profiles = []string{"baseline", "main", "high"}
	x264Presets  = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	encoderRE    = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// maxDimension bounds rung sizes (8K).
const maxDimension = 8192

// ParseLadder reads a YAML ladder (see LoadLadder) and validates it strictly:
// unknown fields, missing or non-positive sizes and bitrates, bad or
// duplicate names are errors.
func ParseLadder(b []byte) (*Ladder, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, yamlError(err)
	}
	var in ladderYAML
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var err error
	if len(root.Content) > 0 && root.Content[0].Kind == yaml.SequenceNode {
		err = dec.Decode(&in.Rungs)
	} else {
		err = dec.Decode(&in)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	if len(in.Rungs) == 0 {
		return nil, errors.New("no rungs")
	}
	l := &Ladder{Audio: Audio{Name: AudioName, Bitrate: 128000}}
	if a := in.Audio; a != nil {
		if a.Name != "" {
			l.Audio.Name = a.Name
		}
		if a.Bitrate != nil {
			l.Audio.Bitrate = int64(*a.Bitrate)
		}
	}
	if !ingest.ValidName(l.Audio.Name) {
		return nil, fmt.Errorf("audio: bad name %q (use 1-%d of A-Z a-z 0-9 _ -)", l.Audio.Name, ingest.MaxNameLen)
	}
	seen := map[string]bool{l.Audio.Name: true}
	passthrough := 0
	for i, ry := range in.Rungs {
		r, err := ry.rung()
		if err != nil {
			if ry.Name != "" {
				return nil, fmt.Errorf("rung %d (%q): %w", i+1, ry.Name, err)
			}
			return nil, fmt.Errorf("rung %d: %w", i+1, err)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("rung %d: duplicate name %q", i+1, r.Name)
		}
		seen[r.Name] = true
		if r.Passthrough {
			passthrough++
			if passthrough > 1 {
				return nil, fmt.Errorf("rung %d (%q): only one rung may be passthrough", i+1, r.Name)
			}
		}
		l.Rungs = append(l.Rungs, r)
	}
	return l, nil
}

func (ry rungYAML) rung() (Rung, error) {
	if ry.Name == "" {
		return Rung{}, errors.New("name missing")
	}
	if !ingest.ValidName(ry.Name) {
		return Rung{}, fmt.Errorf("bad name %q (use 1-%d of A-Z a-z 0-9 _ -)", ry.Name, ingest.MaxNameLen)
	}
	if ry.Passthrough {
		if ry.Width != nil || ry.Height != nil || ry.VideoBitrate != nil || ry.Maxrate != nil || ry.Bufsize != nil ||
			ry.Profile != "" || ry.Preset != "" || ry.Encoder != "" || len(ry.ExtraArgs) > 0 {
			return Rung{}, errors.New("a passthrough rung takes no size, bitrate or encoder settings")
		}
		return Rung{Name: ry.Name, Passthrough: true}, nil
	}
	r := Rung{Name: ry.Name, Profile: ry.Profile, Preset: ry.Preset, Encoder: ry.Encoder, ExtraArgs: ry.ExtraArgs}
	switch {
	case ry.Height == nil:
		return Rung{}, errors.New("height missing")
	case *ry.Height <= 0 || *ry.Height > maxDimension:
		return Rung{}, fmt.Errorf("height %d: want 1 to %d pixels", *ry.Height, maxDimension)
	case ry.Width != nil && (*ry.Width <= 0 || *ry.Width > maxDimension):
		return Rung{}, fmt.Errorf("width %d: want 1 to %d pixels (or leave it out to keep the aspect ratio)", *ry.Width, maxDimension)
	case ry.VideoBitrate == nil:
		return Rung{}, errors.New("video_bitrate missing")
	}
	r.Height = *ry.Height
	if ry.Width != nil {
		r.Width = *ry.Width
	}
	r.VideoBitrate = int64(*ry.VideoBitrate)
	if ry.Maxrate != nil {
		r.Maxrate = int64(*ry.Maxrate)
		if r.Maxrate < r.VideoBitrate {
			return Rung{}, fmt.Errorf("maxrate %d is below video_bitrate %d", r.Maxrate, r.VideoBitrate)
		}
	}
	if ry.Bufsize != nil {
		r.Bufsize = int64(*ry.Bufsize)
	}
	if r.Encoder != "" && (!encoderRE.MatchString(r.Encoder) || !strings.Contains(r.Encoder, "264")) {
		return Rung{}, fmt.Errorf("encoder %q: want an H.264 encoder (libx264, h264_nvenc, h264_vaapi, h264_qsv, …)", r.Encoder)
	}
	r = withDefaults(r)
	if r.Encoder == "libx264" {
		if !oneOf(r.Profile, x264Profiles) {
			return Rung{}, fmt.Errorf("profile %q: libx264 takes %s", r.Profile, strings.Join(x264Profiles, ", "))
		}
		if !oneOf(r.Preset, x264Presets) {
			return Rung{}, fmt.Errorf("preset %q: libx264 takes %s", r.Preset, strings.Join(x264Presets, ", "))
		}
	}
	for _, a := range r.ExtraArgs {
		if reserved[a] {
			return Rung{}, fmt.Errorf("extra_args: %s is set by the transcoder", a)
		}
	}
	return r, nil
}

// reserved are output options the pipeline depends on; a rung may not override them.
var reserved = map[string]bool{"-f": true, "-i": true, "-map": true, "-movflags": true, "-y": true,
	"-force_key_frames": true, "-fps_mode": true, "-vsync": true}

func oneOf(s string, set []string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// yamlError turns yaml.v3's multi-line errors into one line and its
// "field x not found in type y" into "unknown field x".
func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = unknownFieldRE.ReplaceAllString(m, `unknown field "$1"`)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return errors.New(strings.ReplaceAll(strings.TrimPrefix(err.Error(), "yaml: "), "\n", "; "))
}

var unknownFieldRE = regexp.MustCompile(`field (\S+) not found in type \S+`)
