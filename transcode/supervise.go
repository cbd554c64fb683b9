package transcode

import (
	"time"
)

// Supervision constants.
const (
	maxBackoff    = 30 * time.Second
	healthyAfter  = time.Minute // a process that ran this long resets the backoff
	slowTolerance = 0.05        // speed jitter that is not slowness
	tick          = time.Second
)

// run supervises the stream's ffmpeg until the stream ends: it watches the
// first process (started by Publish, so no unit is missed), and restarts it
// with backoff when it exits, stops delivering or falls behind.
func (s *session) run(first *process) {
	defer close(s.done)
	cfg := s.t.cfg
	backoff := cfg.RestartBackoff
	for {
		p, err := first, error(nil)
		if first == nil {
			p, err = s.start()
		}
		first = nil
		if err != nil {
			if isMissing(err) {
				s.t.noFFmpeg(err)
				s.onFailure(nil)
				return
			}
			s.log.Error("ffmpeg did not start", "err", err)
			s.t.m.restarts.WithLabelValues(s.name, "start").Inc()
		} else {
			reason := s.supervise(p)
			switch reason {
			case "closing":
				s.drain(p, cfg.StopTimeout)
				s.detach(p)
				return
			case "quit":
				p.killNow()
				<-p.done
				s.detach(p)
				return
			}
			p.kill()
			<-p.done
			s.detach(p)
			s.onFailure(p)
			s.t.m.restarts.WithLabelValues(s.name, reason).Inc()
			s.log.Warn("ffmpeg restarting", "reason", reason, "pid", p.pid, "ran", time.Since(p.begin).Round(time.Millisecond),
				"exit", p.exitReason(), "backoff", backoff)
			if time.Since(p.begin) > healthyAfter {
				backoff = cfg.RestartBackoff
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.closing:
			t.Stop()
			return
		case <-s.t.quit:
			t.Stop()
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (s *session) start() (*process, error) {
	cfg := procConfig{
		path: s.t.ffmpeg, rungs: s.rungs, fps: s.fps, video: s.src.Tracks[s.video], queueBytes: s.t.cfg.QueueBytes,
		log: s.log, deliver: s.deliver, progress: s.onProgress,
	}
	if s.audioTranscode {
		a := s.t.cfg.Ladder.Audio
		cfg.audio, cfg.source = &a, s.src.Tracks[s.audio]
	}
	p, err := startProcess(cfg)
	if err != nil {
		return nil, err
	}
	s.t.m.processes.Inc()
	s.mu.Lock()
	s.proc = p
	s.mu.Unlock()
	s.log.Info("ffmpeg started", "pid", p.pid, "rungs", len(s.rungs), "audio_transcode", s.audioTranscode)
	return p, nil
}

// detach forgets p once it is gone.
func (s *session) detach(p *process) {
	s.t.m.processes.Dec()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == p {
		s.proc = nil
	}
	if s.ready == p {
		s.ready = nil
	}
	if p.dropped > 0 {
		s.t.m.inputDrops.WithLabelValues(s.name).Add(float64(p.dropped))
		p.dropped = 0
	}
}

// drain ends p at the end of the stream: stdin is closed so ffmpeg encodes
// what it has, and its last frames (and its init segments, for a stream that
// ends before its first session) still reach the origin. After grace it is
// killed.
func (s *session) drain(p *process, grace time.Duration) {
	p.queue.close()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	ready := p.ready
	if p.readySeen {
		ready = nil
	}
	for {
		select {
		case <-ready:
			ready = nil
			s.onReady(p)
		case <-p.done:
			return
		case <-timer.C:
			p.kill()
			<-p.done
			return
		}
	}
}

type speedSample struct {
	at      time.Time
	in, out int64
}

// supervise watches p and returns why it must go: "closing" (the stream
// ended), "quit" (the transcoder closes), "exit", "no_output" or "slow".
func (s *session) supervise(p *process) string {
	cfg := s.t.cfg
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	fed, ready := p.fed, p.ready
	var deadline <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	producing := false
	var samples []speedSample
	for {
		select {
		case <-s.closing:
			return "closing"
		case <-s.t.quit:
			return "quit"
		case <-p.exited:
			return "exit"
		case <-fed:
			fed = nil
			timer = time.NewTimer(cfg.InitTimeout)
			deadline = timer.C
		case <-ready:
			ready = nil
			p.readySeen = true
			s.onReady(p)
		case <-deadline:
			s.log.Error("ffmpeg produced no video in time", "pid", p.pid, "timeout", cfg.InitTimeout, "stderr", p.stderr.String())
			return "no_output"
		case now := <-ticker.C:
			s.updateDrops(p)
			out, ok := p.newestVideo()
			if !ok {
				continue
			}
			if !producing {
				producing, deadline = true, nil
			}
			if s.slow(now, out, &samples) {
				return "slow"
			}
		}
	}
}

// slow records a speed sample and reports whether ffmpeg has stayed below
// MinSpeed for SlowFor: video produced over video delivered, measured over
// the last SlowFor, so a publisher that pauses or runs slow is not blamed.
func (s *session) slow(now time.Time, out int64, samples *[]speedSample) bool {
	in := s.lastIn.Load()
	s.t.m.lag.WithLabelValues(s.name).Set(float64(in-out) / 90000)
	*samples = append(*samples, speedSample{now, in, out})
	window := s.t.cfg.SlowFor
	for len(*samples) > 2 && now.Sub((*samples)[1].at) >= window {
		*samples = (*samples)[1:]
	}
	first := (*samples)[0]
	din := in - first.in
	if din < 90000/2 {
		return false // the publisher delivered (almost) nothing: no verdict
	}
	speed := float64(out-first.out) / float64(din)
	s.t.m.speed.WithLabelValues(s.name).Set(speed)
	return s.t.cfg.MinSpeed > 0 && now.Sub(first.at) >= window && speed < s.t.cfg.MinSpeed-slowTolerance
}

func (s *session) updateDrops(p *process) {
	s.mu.Lock()
	d := p.dropped
	p.dropped = 0
	s.mu.Unlock()
	if d > 0 {
		s.t.m.inputDrops.WithLabelValues(s.name).Add(float64(d))
	}
}

// onProgress turns ffmpeg's progress reports into metrics.
func (s *session) onProgress(p *process, r progressReport) {
	s.t.m.fps.WithLabelValues(s.name).Set(r.FPS)
	s.t.m.ffSpeed.WithLabelValues(s.name).Set(r.Speed)
	if d := r.DropFrames - p.lastDrop; d > 0 {
		s.t.m.dropped.WithLabelValues(s.name).Add(float64(d))
	}
	if d := r.DupFrames - p.lastDup; d > 0 {
		s.t.m.duplicated.WithLabelValues(s.name).Add(float64(d))
	}
	p.lastDrop, p.lastDup = r.DropFrames, r.DupFrames
}
