package transcode

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livecdn/livecdn/ingest"
)

// procConfig is what one ffmpeg run needs.
type procConfig struct {
	path   string
	rungs  []Rung  // transcoded rungs, in output order
	fps    float64 // the source frame rate, 0 when unknown
	audio  *Audio  // non-nil: re-encode the source audio to AAC
	video  *ingest.Track
	source *ingest.Track // the source audio when re-encoded
	// queueBytes bounds the units waiting for ffmpeg's stdin.
	queueBytes int
	log        *slog.Logger
	// deliver receives every demuxed output unit; out indexes rungs, then audio.
	deliver func(p *process, out int, u *ingest.Unit)
	// progress receives ffmpeg's -progress reports.
	progress func(p *process, r progressReport)
}

// tsStart is where the first fed keyframe lands on the MPEG-TS clock, so
// decode times before it (B-frames) and the PCR ahead of them stay positive.
const tsStart = 90000

// process is one ffmpeg serving one stream: units go in on stdin as MPEG-TS,
// each rung comes back as fragmented MP4 on its own pipe.
type process struct {
	cfg     procConfig
	cmd     *exec.Cmd
	pid     int
	begin   time.Time
	queue   *unitQueue
	outs    []*output
	snap    snapTable
	stderr  *lineTail
	readers sync.WaitGroup

	exited  chan struct{} // cmd.Wait returned
	waitErr error
	done    chan struct{} // exited, and every pipe was read to its end

	ready     chan struct{} // every output sent its init segment
	readyLeft atomic.Int32
	fed       chan struct{} // the first keyframe went in
	killOnce  sync.Once
	killed    atomic.Bool

	// Feeding state, owned by the session's lock.
	feeding  bool
	needKey  bool
	base     int64 // publisher DTS of the first fed keyframe
	audioSet bool
	dropped  int     // units refused because the queue was full
	early    []early // rung units before the stream's first publish

	lastDrop, lastDup int64 // progress counters already counted (progress goroutine)
	readySeen         bool  // the supervisor handled ready (run goroutine)

	// Read by the output goroutines.
	firstPTS   atomic.Int64 // publisher PTS of the first fed keyframe
	audioFirst atomic.Int64 // publisher PTS of the first fed audio frame
}

// startProcess starts ffmpeg with its pipes and the goroutines that feed and read it.
func startProcess(cfg procConfig) (*process, error) {
	nOut := len(cfg.rungs)
	if cfg.audio != nil {
		nOut++
	}
	var parent, child []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	pipe := func() (r, w *os.File, err error) {
		r, w, err = os.Pipe()
		if err == nil {
			parent, child = append(parent, r), append(child, w)
		}
		return r, w, err
	}
	p := &process{
		cfg: cfg, queue: newUnitQueue(cfg.queueBytes), stderr: &lineTail{max: 20},
		exited: make(chan struct{}), done: make(chan struct{}), ready: make(chan struct{}), fed: make(chan struct{}),
	}
	pl := pipeline{input: "pipe:0"}
	extra := []*os.File{}
	for i := 0; i < nOut; i++ {
		r, w, err := pipe()
		if err != nil {
			closeAll(parent)
			closeAll(child)
			return nil, err
		}
		p.outs = append(p.outs, &output{p: p, idx: i, video: i < len(cfg.rungs), r: r})
		extra = append(extra, w)
		pl.outputs = append(pl.outputs, fmt.Sprintf("pipe:%d", 3+i))
	}
	progR, progW, err := pipe()
	if err != nil {
		closeAll(parent)
		closeAll(child)
		return nil, err
	}
	extra = append(extra, progW)
	pl.progress = fmt.Sprintf("pipe:%d", 3+nOut)
	errR, errW, err := pipe()
	if err != nil {
		closeAll(parent)
		closeAll(child)
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		closeAll(parent)
		closeAll(child)
		return nil, err
	}
	child = append(child, inR)

	cmd := exec.Command(cfg.path, ffmpegArgs(cfg.rungs, cfg.audio, cfg.fps, pl)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, nil, errW
	cmd.ExtraFiles = extra
	// Its own process group: a kill reaches ffmpeg and anything it spawned.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		closeAll(parent)
		closeAll(child)
		inW.Close()
		return nil, err
	}
	closeAll(child) // ffmpeg holds the other ends; EOF comes when it exits
	p.cmd, p.pid, p.begin = cmd, cmd.Process.Pid, time.Now()
	p.readyLeft.Store(int32(nOut))

	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	for _, o := range p.outs {
		p.readers.Add(1)
		go o.read()
	}
	p.readers.Add(3)
	go p.readProgress(progR)
	go p.readStderr(errR)
	go p.writeLoop(inW)
	go func() {
		<-p.exited
		p.queue.discard() // nobody reads stdin any more
		p.readers.Wait()
		close(p.done)
	}()
	return p, nil
}

// feed hands a source unit to ffmpeg. It runs on the publisher's goroutine
// under the session lock and never blocks. ffmpeg starts at a keyframe, and
// after a refused unit it skips to the next keyframe so the decoder never
// sees a broken reference chain.
func (p *process) feed(u *ingest.Unit, video bool) {
	if !p.feeding {
		if !video || !u.Key {
			return
		}
		p.feeding, p.base = true, u.DTS
		p.firstPTS.Store(u.PTS)
		close(p.fed)
	}
	if video && p.needKey {
		if !u.Key {
			return
		}
		p.needKey = false
	}
	if !p.queue.push(u, video) {
		p.dropped++
		if video {
			p.needKey = true
		}
		return
	}
	if video {
		p.snap.add(u.PTS)
	} else if !p.audioSet {
		p.audioSet = true
		p.audioFirst.Store(u.PTS)
	}
}

// writeLoop muxes queued units into MPEG-TS on ffmpeg's stdin. Closing the
// queue ends it: stdin is closed and ffmpeg finishes its outputs.
func (p *process) writeLoop(stdin *os.File) {
	defer p.readers.Done()
	defer stdin.Close()
	bw := bufio.NewWriterSize(stdin, 128<<10)
	vt := &mpegts.Track{}
	switch p.cfg.video.Codec.(type) {
	case *codecs.H265:
		vt.Codec = &tscodecs.H265{}
	default:
		vt.Codec = &tscodecs.H264{}
	}
	tracks := []*mpegts.Track{vt}
	var at *mpegts.Track
	if p.cfg.source != nil {
		ch := 2
		if c, ok := p.cfg.source.Codec.(*codecs.Opus); ok && c.ChannelCount > 0 {
			ch = c.ChannelCount
		}
		at = &mpegts.Track{Codec: &tscodecs.Opus{ChannelCount: ch}} //nolint:staticcheck // the descriptor form needs more than we know
		tracks = append(tracks, at)
	}
	w := &mpegts.Writer{W: bw, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		p.cfg.log.Error("ffmpeg input: mpeg-ts writer", "err", err)
		p.queue.discard()
		return
	}
	for {
		it, more, ok := p.queue.pop()
		if !ok {
			break
		}
		var err error
		if it.video {
			err = p.writeVideo(w, vt, it.u)
		} else {
			pts := rescale(it.u.PTS, int64(p.cfg.source.ClockRate), 90000) - p.base + tsStart
			err = w.WriteOpus(at, pts, it.u.Data)
		}
		if err == nil && !more {
			err = bw.Flush()
		}
		if err != nil {
			if !p.killed.Load() && !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrClosed) {
				p.cfg.log.Warn("ffmpeg input", "pid", p.pid, "err", err)
			}
			p.queue.discard() // ffmpeg is gone or going: the supervisor restarts it
			return
		}
	}
	_ = bw.Flush()
}

func (p *process) writeVideo(w *mpegts.Writer, t *mpegts.Track, u *ingest.Unit) error {
	pts, dts := u.PTS-p.base+tsStart, u.DTS-p.base+tsStart
	au := u.Data
	if len(au) == 0 {
		return nil
	}
	switch c := p.cfg.video.Codec.(type) {
	case *codecs.H264:
		if u.Key && !hasNALU(au, func(b byte) bool { return h264.NALUType(b&0x1f) == h264.NALUTypeSPS }) {
			au = append([][]byte{c.SPS, c.PPS}, au...)
		}
		return w.WriteH264(t, pts, dts, au)
	case *codecs.H265:
		if u.Key && !hasNALU(au, func(b byte) bool { return h265.NALUType((b>>1)&0x3f) == h265.NALUType_SPS_NUT }) {
			au = append([][]byte{c.VPS, c.SPS, c.PPS}, au...)
		}
		return w.WriteH265(t, pts, dts, au)
	}
	return fmt.Errorf("unsupported video codec %T", p.cfg.video.Codec)
}

func hasNALU(au [][]byte, is func(first byte) bool) bool {
	for _, n := range au {
		if len(n) > 0 && is(n[0]) {
			return true
		}
	}
	return false
}

// kill ends ffmpeg's process group: SIGTERM, then SIGKILL after a short
// grace. It returns at once; p.done closes once everything is read.
func (p *process) kill() {
	p.killOnce.Do(func() {
		p.killed.Store(true)
		p.queue.discard()
		_ = syscall.Kill(-p.pid, syscall.SIGTERM)
		go func() {
			t := time.NewTimer(killGrace)
			defer t.Stop()
			select {
			case <-p.exited:
			case <-t.C:
			}
			// Whatever is left in the group (the leader may be gone already).
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
		}()
	})
}

// killNow ends the process group with SIGKILL right away.
func (p *process) killNow() {
	p.killed.Store(true)
	p.queue.discard()
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
}

// killGrace is how long ffmpeg may take to exit after SIGTERM.
const killGrace = time.Second

// exitReason describes how ffmpeg ended, with its last stderr lines.
func (p *process) exitReason() string {
	msg := "exited"
	if p.waitErr != nil {
		msg = p.waitErr.Error()
	}
	if tail := p.stderr.String(); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// newestVideo returns the publisher PTS of the newest frame of the slowest
// video output; ok is false until every video output has produced a frame.
func (p *process) newestVideo() (pts int64, ok bool) {
	first := true
	for _, o := range p.outs {
		if !o.video {
			continue
		}
		if !o.produced.Load() {
			return 0, false
		}
		if v := o.last.Load(); first || v < pts {
			pts, first = v, false
		}
	}
	return pts, !first
}

func (p *process) readStderr(r *os.File) {
	defer p.readers.Done()
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		p.stderr.add(line)
		p.cfg.log.Debug("ffmpeg", "pid", p.pid, "line", line)
	}
}
