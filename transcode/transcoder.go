package transcode

import (
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/ingest"
)

// Config holds every transcoder tunable; DefaultConfig documents the defaults.
type Config struct {
	// Ladder is what streams become; nil or a passthrough-only ladder hands
	// every stream to the next handler unchanged.
	Ladder *Ladder
	// FFmpegPath is the ffmpeg binary, looked up in PATH. Default "ffmpeg".
	// When it is missing the ladder degrades to passthrough (logged once).
	FFmpegPath string
	// SegmentTarget is the packager's segment target. Keyframes follow the
	// source's (which the packager cuts at), so it only sizes InitTimeout.
	SegmentTarget time.Duration
	// InitTimeout bounds the wait for ffmpeg's first frames after the first
	// keyframe went in. Until they come the stream is held back (so its first
	// session has every rung); after it the source is published alone and
	// ffmpeg restarted. Default max(10 s, 3 × SegmentTarget).
	InitTimeout time.Duration
	// RestartBackoff is the first pause before restarting a failed ffmpeg; it
	// doubles per failure up to 30 s and resets after a healthy minute.
	// Default 1 s.
	RestartBackoff time.Duration
	// MinSpeed and SlowFor: ffmpeg is restarted when, over the last SlowFor,
	// it produced less than MinSpeed seconds of video per second of video the
	// publisher delivered (with 5% tolerance for jitter). Restarting a slow
	// encoder loses a few seconds of the rungs but stops their latency from
	// growing without bound. Defaults 1.0 and 10 s; a negative MinSpeed turns
	// the check off.
	MinSpeed float64
	SlowFor  time.Duration
	// StopTimeout is how long ffmpeg may take to finish its outputs when a
	// stream ends, before it is killed. Default 3 s.
	StopTimeout time.Duration
	// QueueBytes bounds the source media waiting for ffmpeg's stdin; beyond it
	// units are skipped up to the next keyframe. Default 32 MiB.
	QueueBytes int
	// Logger receives transcoder logs (ffmpeg's stderr at debug); slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the livecdn_transcode_* metrics; none when nil.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults with the default ladder.
func DefaultConfig() Config {
	return Config{
		Ladder: DefaultLadder(), FFmpegPath: "ffmpeg", SegmentTarget: 2 * time.Second,
		InitTimeout: 10 * time.Second, RestartBackoff: time.Second, MinSpeed: 1.0, SlowFor: 10 * time.Second,
		StopTimeout: 3 * time.Second, QueueBytes: 32 << 20,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.FFmpegPath == "" {
		c.FFmpegPath = d.FFmpegPath
	}
	if c.SegmentTarget <= 0 {
		c.SegmentTarget = d.SegmentTarget
	}
	if c.InitTimeout <= 0 {
		c.InitTimeout = max(d.InitTimeout, 3*c.SegmentTarget)
	}
	if c.RestartBackoff <= 0 {
		c.RestartBackoff = d.RestartBackoff
	}
	if c.MinSpeed == 0 {
		c.MinSpeed = d.MinSpeed
	}
	if c.SlowFor <= 0 {
		c.SlowFor = d.SlowFor
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = d.StopTimeout
	}
	if c.QueueBytes <= 0 {
		c.QueueBytes = d.QueueBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Transcoder is an ingest.Handler in front of the origin: it turns each
// published stream into the ladder's renditions with one supervised ffmpeg
// per stream and hands them to the next handler as one stream.
type Transcoder struct {
	cfg    Config
	next   ingest.Handler
	log    *slog.Logger
	m      *metrics
	ffmpeg string // resolved binary; "" when missing

	missingOnce sync.Once

	mu       sync.Mutex
	sessions map[*session]struct{}
	closed   bool
	quit     chan struct{}
	wg       sync.WaitGroup
}

var _ ingest.Handler = (*Transcoder)(nil)

// New returns a Transcoder that publishes to next.
func New(cfg Config, next ingest.Handler) *Transcoder {
	cfg = cfg.withDefaults()
	t := &Transcoder{cfg: cfg, next: next, log: cfg.Logger.With("component", "transcode"), m: newMetrics(cfg.Registerer),
		sessions: map[*session]struct{}{}, quit: make(chan struct{})}
	if cfg.Ladder != nil && !cfg.Ladder.Passthrough() {
		if p, err := exec.LookPath(cfg.FFmpegPath); err != nil {
			t.noFFmpeg(err)
		} else {
			t.ffmpeg = p
			t.log.Info("transcoding ladder", "ladder", cfg.Ladder.String(), "ffmpeg", p)
		}
	}
	return t
}

// noFFmpeg says once, clearly, that the ladder cannot run.
func (t *Transcoder) noFFmpeg(err error) {
	t.missingOnce.Do(func() {
		t.log.Error(fmt.Sprintf("ffmpeg not available (%v): streams are served as published (passthrough only), without the %q ladder; install ffmpeg and restart to transcode",
			err, t.cfg.Ladder.Source))
	})
}

// Publish implements ingest.Handler.
func (t *Transcoder) Publish(s *ingest.Stream) (ingest.Sink, error) {
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return nil, errors.New("transcoder is shut down")
	}
	l := t.cfg.Ladder
	if l == nil || l.Passthrough() {
		t.m.passthrough.WithLabelValues("ladder").Inc()
		return t.next.Publish(t.passthroughStream(s))
	}
	video, audio := -1, -1
	for i, tr := range s.Tracks {
		switch {
		case tr.IsVideo() && video < 0:
			video = i
		case !tr.IsVideo() && audio < 0:
			audio = i
		}
	}
	if video < 0 {
		t.m.passthrough.WithLabelValues("no_video").Inc()
		return t.next.Publish(t.fallbackStream(s, video, audio, ""))
	}
	w, h, fps, err := sourceFormat(s.Tracks[video].Codec)
	if err != nil {
		t.log.Warn("source video not understood; passing it through", "stream", s.Name, "err", err)
		t.m.passthrough.WithLabelValues("no_video").Inc()
		return t.next.Publish(t.fallbackStream(s, video, audio, ""))
	}
	plan := l.Plan(w, h)
	if len(plan) == 1 && plan[0].Passthrough {
		// Every rung is above the source: nothing to transcode.
		t.m.passthrough.WithLabelValues("ladder").Inc()
		return t.next.Publish(t.fallbackStream(s, video, audio, plan[0].Name))
	}
	if t.ffmpeg == "" {
		t.m.passthrough.WithLabelValues("no_ffmpeg").Inc()
		return t.next.Publish(t.fallbackStream(s, video, audio, fallbackName(plan)))
	}
	sess := newSession(t, s, video, audio, plan)
	sess.fps = fps
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, errors.New("transcoder is shut down")
	}
	t.sessions[sess] = struct{}{}
	t.wg.Add(1)
	t.mu.Unlock()
	// Started here, before the first unit arrives, so ffmpeg gets the first keyframe.
	p, err := sess.start()
	if err != nil {
		t.wg.Done()
		t.forget(sess)
		if isMissing(err) {
			t.noFFmpeg(err)
		} else {
			t.log.Error("ffmpeg did not start; passing the stream through", "stream", s.Name, "err", err)
		}
		t.m.passthrough.WithLabelValues("no_ffmpeg").Inc()
		return t.next.Publish(t.fallbackStream(s, video, audio, fallbackName(plan)))
	}
	go func() {
		defer t.wg.Done()
		sess.run(p)
	}()
	return sess, nil
}

// passthroughStream names the tracks after a passthrough-only ladder's
// rendition names; with the preset's names ("video", "audio") the stream is
// handed on untouched.
func (t *Transcoder) passthroughStream(s *ingest.Stream) *ingest.Stream {
	l := t.cfg.Ladder
	if l == nil || len(l.Rungs) == 0 || (l.Rungs[0].Name == "video" && l.Audio.Name == AudioName) {
		return s
	}
	return t.fallbackStream(s, firstTrack(s, true), firstTrack(s, false), l.Rungs[0].Name)
}

// fallbackStream is s with its first video track named videoName (unless
// empty) and its first audio track named after the ladder's audio.
func (t *Transcoder) fallbackStream(s *ingest.Stream, video, audio int, videoName string) *ingest.Stream {
	c := *s
	c.Tracks = make([]*ingest.Track, len(s.Tracks))
	for i, tr := range s.Tracks {
		n := *tr
		switch {
		case i == video && videoName != "":
			n.Name = videoName
		case i == audio && t.cfg.Ladder != nil:
			n.Name = t.cfg.Ladder.Audio.Name
		}
		c.Tracks[i] = &n
	}
	return &c
}

func firstTrack(s *ingest.Stream, video bool) int {
	for i, tr := range s.Tracks {
		if tr.IsVideo() == video {
			return i
		}
	}
	return -1
}

// fallbackName is the rendition name the source video takes when it is
// served alone: the passthrough rung's, else the top rung's (so the URL of
// the leading rendition keeps working).
func fallbackName(plan []Rung) string {
	for _, r := range plan {
		if r.Passthrough {
			return r.Name
		}
	}
	if len(plan) > 0 {
		return plan[0].Name
	}
	return SourceName
}

// sourceFormat reads the picture size and the frame rate (0 when the SPS
// has no timing information) from the video's SPS.
func sourceFormat(c ingest.Codec) (w, h int, fps float64, err error) {
	switch c := c.(type) {
	case *codecs.H264:
		var sps h264.SPS
		if err := sps.Unmarshal(c.SPS); err != nil {
			return 0, 0, 0, err
		}
		return sps.Width(), sps.Height(), sps.FPS(), nil
	case *codecs.H265:
		var sps h265.SPS
		if err := sps.Unmarshal(c.SPS); err != nil {
			return 0, 0, 0, err
		}
		return sps.Width(), sps.Height(), sps.FPS(), nil
	}
	return 0, 0, 0, fmt.Errorf("unsupported video codec %T", c)
}

// PIDs returns the process id of each stream's running ffmpeg, by stream
// name (for operators' tooling and tests).
func (t *Transcoder) PIDs() map[string]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]int{}
	for s := range t.sessions {
		if pid := s.pid(); pid > 0 {
			out[s.name] = pid
		}
	}
	return out
}

// Close kills every ffmpeg (its whole process group) and waits until each
// is reaped and its supervisor has returned. Sessions still open keep
// passing the source through until their publishers leave; new publishes
// are refused. Close the ingest servers first so streams end gracefully.
func (t *Transcoder) Close() {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	t.closed = true
	close(t.quit)
	t.mu.Unlock()
	t.wg.Wait()
}

func (t *Transcoder) forget(s *session) {
	t.mu.Lock()
	delete(t.sessions, s)
	t.mu.Unlock()
	t.m.forget(s.name)
}
