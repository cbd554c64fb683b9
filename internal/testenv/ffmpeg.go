package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/logbuf"
)

// NeedFFmpeg skips the test when ffmpeg/ffprobe are missing, except in CI,
// where a missing tool is a broken setup and fails the test instead.
func NeedFFmpeg(t testing.TB) {
	t.Helper()
	for _, bin := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(bin); err != nil {
			if InCI() {
				t.Fatalf("%s not installed (the test script installs it)", bin)
			}
			t.Skipf("%s not installed", bin)
		}
	}
}

// Source describes the lavfi test media a publisher generates.
type Source struct {
	// Size is WxH, default 320x180 (small keeps CI fast).
	Size string
	// Rate is the frame rate, default 30.
	Rate int
	// Duration is how long the source runs; 0 means until the publisher is stopped.
	Duration time.Duration
	// GOP is the keyframe interval in frames, default 2*Rate (2 s segments).
	GOP int
	// VideoCodec is the ffmpeg encoder, default libx264.
	VideoCodec string
	// AudioCodec is the ffmpeg encoder, default aac; "none" publishes video only.
	AudioCodec string
	// Realtime paces the input at 1x (-re); off, ffmpeg sends as fast as it encodes.
	Realtime bool
	// Extra is appended to the output options.
	Extra []string
}

func (s Source) withDefaults() Source {
	if s.Size == "" {
		s.Size = "320x180"
	}
	if s.Rate == 0 {
		s.Rate = 30
	}
	if s.GOP == 0 {
		s.GOP = 2 * s.Rate
	}
	if s.VideoCodec == "" {
		s.VideoCodec = "libx264"
	}
	if s.AudioCodec == "" {
		s.AudioCodec = "aac"
	}
	return s
}

// Args returns the ffmpeg arguments that encode the source and send it to url
// in format (flv for RTMP, rtsp, mpegts for SRT).
func (s Source) Args(format, url string) []string {
	s = s.withDefaults()
	dur := ""
	if s.Duration > 0 {
		dur = fmt.Sprintf(":duration=%g", s.Duration.Seconds())
	}
	args := []string{"-hide_banner", "-loglevel", "warning", "-nostdin"}
	if s.Realtime {
		args = append(args, "-re")
	}
	args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%s:rate=%d%s", s.Size, s.Rate, dur))
	if s.AudioCodec != "none" {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=440:sample_rate=48000%s", dur))
	}
	args = append(args, "-c:v", s.VideoCodec, "-g", fmt.Sprint(s.GOP), "-keyint_min", fmt.Sprint(s.GOP), "-sc_threshold", "0", "-pix_fmt", "yuv420p")
	if s.VideoCodec == "libx264" {
		args = append(args, "-preset", "ultrafast", "-tune", "zerolatency", "-b:v", "300k")
	}
	if s.AudioCodec != "none" {
		args = append(args, "-c:a", s.AudioCodec, "-b:a", "64k", "-ar", "48000", "-ac", "2")
	} else {
		args = append(args, "-an")
	}
	args = append(args, s.Extra...)
	return append(args, "-f", format, url)
}

// Publisher is a running ffmpeg process.
type Publisher struct {
	cmd    *exec.Cmd
	stderr *logbuf.Buffer
	done   chan struct{}
	err    error
}

// Publish starts ffmpeg with args and stops it (SIGKILL) when the test ends.
func Publish(t testing.TB, args ...string) *Publisher {
	t.Helper()
	NeedFFmpeg(t)
	cmd := exec.Command("ffmpeg", args...)
	p := &Publisher{cmd: cmd, stderr: &logbuf.Buffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	cmd.Stdout = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("ffmpeg %s\nstderr:\n%s", strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// PublishSource starts a publisher of src to url in format.
func PublishSource(t testing.TB, src Source, format, url string) *Publisher {
	t.Helper()
	return Publish(t, src.Args(format, url)...)
}

// Wait waits for ffmpeg to exit and returns its exit error (nil on success).
func (p *Publisher) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when ffmpeg has exited.
func (p *Publisher) Done() <-chan struct{} { return p.done }

// Stop kills ffmpeg (like a publisher whose network dropped) and waits for it.
func (p *Publisher) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Output returns what ffmpeg printed so far.
func (p *Publisher) Output() string { return p.stderr.String() }
