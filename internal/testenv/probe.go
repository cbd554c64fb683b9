package testenv

import (
	"context"
	"encoding/json"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// Probe is what ffprobe reports about a file or URL.
type Probe struct {
	Streams []ProbeStream `json:"streams"`
	Format  struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// ProbeStream is one stream of a Probe.
type ProbeStream struct {
	CodecName string `json:"codec_name"`
	CodecType string `json:"codec_type"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Duration  string `json:"duration"`
	// SampleRate is set for audio.
	SampleRate string `json:"sample_rate"`
}

// Duration returns the container duration in seconds (0 when unknown).
func (p *Probe) Duration() float64 {
	d, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return d
}

// Codec returns the first stream of codecType ("video", "audio"), or nil.
func (p *Probe) Codec(codecType string) *ProbeStream {
	for i := range p.Streams {
		if p.Streams[i].CodecType == codecType {
			return &p.Streams[i]
		}
	}
	return nil
}

// FFprobe runs ffprobe on target (a file or URL) with extra input options.
func FFprobe(t testing.TB, target string, extra ...string) *Probe {
	t.Helper()
	NeedFFmpeg(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"-v", "error", "-print_format", "json", "-show_streams", "-show_format"}, extra...)
	out, err := exec.CommandContext(ctx, "ffprobe", append(args, target)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", target, err, out)
	}
	var p Probe
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", target, err, out)
	}
	return &p
}
