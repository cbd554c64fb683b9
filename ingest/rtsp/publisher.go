package rtsp

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/livecdn/livecdn/ingest"
)

// packet is one RTP packet on its way from gortsplib's reader to the worker.
type packet struct {
	conv int
	pkt  *rtp.Packet
	pts  int64
	recv time.Time
}

// publisher is one authorized RTSP publish session. Its run goroutine owns
// the converters and the ingest session from ANNOUNCE to the end, so that
// decoding and a slow sink never run on gortsplib's reader goroutines (over
// UDP one goroutine reads for every session).
type publisher struct {
	s     *Server
	ss    *gortsplib.ServerSession
	sess  *ingest.Session
	log   *slog.Logger
	convs []*converter

	queue     chan packet
	recording chan struct{} // closed once RECORD is accepted
	stop      chan struct{} // closed when run returns; unblocks readers

	endOnce sync.Once
	ended   chan struct{} // closed when gortsplib has closed the session
	endErr  error         // why; written before ended is closed

	started bool
	keyed   []bool // per converter: a video keyframe has been written
	dropped atomic.Uint64

	udp        atomic.Bool  // recording over UDP
	lastPacket atomic.Int64 // UnixNano of the last UDP packet

	noiseMu      sync.Mutex
	noiseLast    time.Time
	noiseSkipped int
}

func newPublisher(s *Server, ss *gortsplib.ServerSession, sess *ingest.Session, convs []*converter, log *slog.Logger) *publisher {
	return &publisher{
		s:         s,
		ss:        ss,
		sess:      sess,
		log:       log,
		convs:     convs,
		queue:     make(chan packet, s.cfg.QueueSize),
		recording: make(chan struct{}),
		stop:      make(chan struct{}),
		ended:     make(chan struct{}),
		keyed:     make([]bool, len(convs)),
	}
}

// record installs the packet callbacks. It runs on the session's goroutine,
// before gortsplib delivers any packet.
func (p *publisher) record(ss *gortsplib.ServerSession, udp bool) {
	p.udp.Store(udp)
	for i, c := range p.convs {
		ss.OnPacketRTP(c.media, c.format, func(pkt *rtp.Packet) {
			// PacketPTS2 unwraps the 32-bit RTP timestamp into a running
			// count on the track's clock; it has no value for a video
			// packet before the first one a decoder can start from.
			pts, ok := ss.PacketPTS2(c.media, pkt)
			if !ok {
				return
			}
			// The reader may reuse the packet's buffer once we return: copy it.
			it := packet{conv: i, pkt: pkt.Clone(), pts: pts, recv: time.Now()}
			if udp {
				p.lastPacket.Store(it.recv.UnixNano())
				select {
				case p.queue <- it:
				default:
					p.dropped.Add(1)
					p.noisy("sink too slow; dropping rtp packets", nil)
				}
				return
			}
			// Over TCP a full queue pushes back on the publisher.
			select {
			case p.queue <- it:
			case <-p.stop:
			}
		})
	}
	close(p.recording)
}

// drainUDP holds a TEARDOWN until no UDP packet has arrived for a moment
// (bounded). Publishers send their last packets and the TEARDOWN back to
// back, and the TEARDOWN (over TCP) can overtake them; ffmpeg even sends the
// TEARDOWN first and flushes its RTP packetizers after it. Without this
// pause the end of a UDP publish would be cut off.
func (p *publisher) drainUDP() {
	const quiet, limit = 50 * time.Millisecond, 300 * time.Millisecond
	start := time.Now()
	for time.Since(start) < limit {
		last := max(start.UnixNano(), p.lastPacket.Load())
		if time.Since(time.Unix(0, last)) >= quiet {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// sessionEnded is called by OnSessionClose; gortsplib delivers no packet after it.
func (p *publisher) sessionEnded(err error) {
	p.endOnce.Do(func() {
		p.endErr = err
		close(p.ended)
	})
}

func (p *publisher) run() {
	defer p.s.workers.Done()
	reason := p.loop()
	close(p.stop)
	p.ss.Close()
	p.sess.Close()
	args := []any{"reason", reason}
	if d := p.dropped.Load(); d > 0 {
		args = append(args, "dropped_packets", d)
	}
	p.log.Info("rtsp publish ended", args...)
}

func (p *publisher) loop() error {
	start := time.NewTimer(p.s.cfg.StartTimeout)
	defer start.Stop()
	recording := p.recording
	for {
		select {
		case <-recording:
			recording = nil
			// With parameter sets in the SDP the stream starts now, so
			// the sink learns about it even before the first keyframe.
			if _, err := p.tryStart(); err != nil {
				return err
			}
		case <-start.C:
			if p.started {
				continue
			}
			if recording != nil {
				return fmt.Errorf("no RECORD within %v of ANNOUNCE", p.s.cfg.StartTimeout)
			}
			return fmt.Errorf("codec parameters (SPS/PPS) not received within %v", p.s.cfg.StartTimeout)
		case it := <-p.queue:
			if err := p.handle(it); err != nil {
				return err
			}
		case <-p.sess.Done():
			return errors.New("ended by ingest (takeover or shutdown)")
		case <-p.s.closing:
			return errors.New("server closing")
		case <-p.ended:
			// Pass on what was queued before the publisher left.
			for {
				select {
				case it := <-p.queue:
					if err := p.handle(it); err != nil {
						return err
					}
				default:
					return endReason(p.endErr)
				}
			}
		}
	}
}

// handle converts one packet and passes the resulting units on, starting the
// stream once every track's codec parameters are known.
func (p *publisher) handle(it packet) error {
	c := p.convs[it.conv]
	units, err := c.codec.decode(it.pkt, it.pts)
	if err != nil {
		p.noisy("dropping undecodable media", err)
	}
	if len(units) == 0 {
		return nil
	}
	// Units before the start are dropped: the sink needs the complete
	// track list first, and video starts at a keyframe anyway.
	if ok, err := p.tryStart(); !ok || err != nil {
		return err
	}
	for _, u := range units {
		if c.track.IsVideo() && !p.keyed[it.conv] {
			if !u.Key {
				continue
			}
			p.keyed[it.conv] = true
		}
		u.Track = it.conv
		u.Received = it.recv
		if err := p.sess.WriteUnit(u); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// tryStart hands the stream to the Hub once every track's codec parameters
// are known, and reports whether it has started.
func (p *publisher) tryStart() (bool, error) {
	if p.started {
		return true, nil
	}
	tracks := make([]*ingest.Track, len(p.convs))
	for i, c := range p.convs {
		if !c.codec.ready() {
			return false, nil
		}
		tracks[i] = c.track
	}
	if err := p.sess.Start(tracks); err != nil {
		return false, fmt.Errorf("start: %w", err)
	}
	p.started = true
	return true, nil
}

// noisy logs per-packet trouble at most every few seconds, so a lossy link or
// a broken encoder cannot flood the log. It is called from reader goroutines
// as well as from run.
func (p *publisher) noisy(msg string, err error) {
	p.noiseMu.Lock()
	now := time.Now()
	if now.Sub(p.noiseLast) < 5*time.Second {
		p.noiseSkipped++
		p.noiseMu.Unlock()
		return
	}
	skipped := p.noiseSkipped
	p.noiseLast, p.noiseSkipped = now, 0
	p.noiseMu.Unlock()
	p.log.Warn(msg, "err", err, "similar_suppressed", skipped)
}

// endReason names why gortsplib closed the session, for the log.
func endReason(err error) error {
	var (
		torn    liberrors.ErrServerSessionTornDown
		timeout liberrors.ErrServerSessionTimedOut
		notUsed liberrors.ErrServerSessionNotInUse
	)
	switch {
	case errors.As(err, &torn):
		return errors.New("publisher sent TEARDOWN")
	case errors.As(err, &timeout):
		return errors.New("no media received within the read timeout")
	case errors.As(err, &notUsed):
		return errors.New("publisher disconnected")
	case err == nil:
		return errors.New("session closed")
	default:
		return err
	}
}
