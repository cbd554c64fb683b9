// Package loop is the built-in demo source: it publishes a short embedded
// H.264/AAC clip into an ingest.Hub over and over, paced like a live camera,
// so that `livecdn demo` has something to show without an encoder.
//
// Each pass adds the clip duration to every timestamp, so PTS/DTS keep rising
// across the loop boundary, and every unit is released when its DTS is due
// against the wall clock.
package loop

import (
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/mpegts"
)

// clipTS was generated once with ffmpeg 5.1:
//
//	ffmpeg -f lavfi -i testsrc2=size=480x270:rate=30:duration=4 \
//	  -f lavfi -i sine=frequency=440:sample_rate=48000:duration=4 \
//	  -c:v libx264 -profile:v main -preset medium -crf 26 -g 30 -keyint_min 30 \
//	  -sc_threshold 0 -pix_fmt yuv420p -c:a aac -b:a 64k -ar 48000 -ac 2 -f mpegts clip.ts
//
//go:embed clip.ts
var clipTS []byte

// ErrEnded is returned by Run when the hub ended the session while the
// context was still live: another publisher took the name over, or the hub
// is shutting down.
var ErrEnded = errors.New("loop: session ended by the hub (taken over or shutting down)")

// Clip returns a copy of the embedded clip: 4 s of 480x270 30 fps H.264 Main
// with a keyframe every second and 48 kHz stereo AAC, in MPEG-TS.
func Clip() []byte { return bytes.Clone(clipTS) }

// Run publishes the clip as stream name until ctx is done; see Source.Run.
func Run(ctx context.Context, hub *ingest.Hub, name string) error {
	return (&Source{Hub: hub, Name: name}).Run(ctx)
}

// Source publishes the embedded clip into a Hub in a loop.
type Source struct {
	// Hub authorizes the source (as protocol "file") and receives the stream. Required.
	Hub *ingest.Hub
	// Name is the stream name. Required.
	Name string
	// Key is the publish key, needed when the hub has keys configured.
	Key string
	// Speed scales the pacing: 1 (the default when zero) is real time, 2
	// releases two seconds of media per wall-clock second. Timestamps are
	// never scaled. Tests raise it so that they need not wait.
	Speed float64
}

// Run authorizes, starts the stream and writes the clip's units in a loop
// until ctx is done, then closes the session and returns nil. It returns an
// error when the hub refuses the stream, the handler fails, or the hub ends
// the session (ErrEnded).
func (s *Source) Run(ctx context.Context) error {
	if s.Hub == nil {
		return errors.New("loop: nil hub")
	}
	c, err := loadClip()
	if err != nil {
		return err
	}
	sess, err := s.Hub.Authorize(ctx, ingest.Request{Protocol: "file", Name: s.Name, Key: s.Key, Remote: "loop"})
	if err != nil {
		return fmt.Errorf("loop: %w", err)
	}
	defer sess.Close()
	tracks := make([]*ingest.Track, len(c.tracks))
	for i, t := range c.tracks {
		cp := *t
		tracks[i] = &cp
	}
	if err := sess.Start(tracks); err != nil {
		return fmt.Errorf("loop: start: %w", err)
	}

	speed := s.Speed
	if speed <= 0 {
		speed = 1
	}
	begin := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for pass := int64(0); ; pass++ {
		for i := range c.units {
			cu := &c.units[i]
			at := pass*c.period + cu.at
			due := begin.Add(time.Duration(float64(at) * float64(time.Second) / (90000 * speed)))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return nil
				case <-sess.Done():
					return ErrEnded
				case <-timer.C:
				}
			} else {
				select {
				case <-ctx.Done():
					return nil
				case <-sess.Done():
					return ErrEnded
				default:
				}
			}
			u := cu.u
			off := c.offset(pass, u.Track)
			u.PTS += off
			u.DTS += off
			u.Data = cloneData(cu.u.Data) // sinks may keep what they are given
			u.Received = time.Time{}
			if err := sess.WriteUnit(&u); err != nil {
				return fmt.Errorf("loop: %w", err)
			}
		}
	}
}

// clip is the demuxed clip, ready to be replayed.
type clip struct {
	tracks []*ingest.Track
	units  []clipUnit // in release order
	period int64      // 90 kHz ticks one pass lasts
}

// clipUnit is one unit with its release time.
type clipUnit struct {
	u  ingest.Unit
	at int64 // 90 kHz ticks after the start of a pass
}

var loadClip = sync.OnceValues(func() (*clip, error) { return parseClip(clipTS) })

// offset is what pass adds to the timestamps of track: the pass start in
// the track's clock, computed from the pass number so it never drifts.
func (c *clip) offset(pass int64, track int) int64 {
	return pass * c.period * int64(c.tracks[track].ClockRate) / 90000
}

// parseClip demuxes ts and lays its units out for looping. The pass length
// is the video duration; audio frames that would overlap the next pass are
// dropped (AAC frames rarely divide a video duration), so every track's DTS
// rises strictly from one pass to the next, and A/V alignment never drifts.
func parseClip(ts []byte) (*clip, error) {
	var col collector
	if err := mpegts.Read(context.Background(), bytes.NewReader(ts), &col); err != nil {
		return nil, fmt.Errorf("loop: embedded clip: %w", err)
	}
	type span struct {
		first, last, dur int64 // track clock
		n                int
	}
	spans := make([]span, len(col.tracks))
	for _, u := range col.units {
		sp := &spans[u.Track]
		if sp.n == 0 {
			sp.first = u.DTS
		}
		sp.last = u.DTS
		sp.n++
	}
	c := &clip{tracks: col.tracks}
	lead := -1
	for i, t := range col.tracks {
		sp := &spans[i]
		if sp.n < 2 {
			return nil, fmt.Errorf("loop: embedded clip: track %d has %d units", i, sp.n)
		}
		sp.dur = (sp.last - sp.first) / int64(sp.n-1)
		if lead < 0 || (t.IsVideo() && !col.tracks[lead].IsVideo()) {
			lead = i
		}
	}
	ld := spans[lead]
	c.period = (ld.last - ld.first + ld.dur) * 90000 / int64(col.tracks[lead].ClockRate)

	start := int64(0)
	for i, t := range col.tracks {
		if at := spans[i].first * 90000 / int64(t.ClockRate); i == 0 || at < start {
			start = at
		}
	}
	for _, u := range col.units {
		t, sp := col.tracks[u.Track], spans[u.Track]
		limit := c.period * int64(t.ClockRate) / 90000
		if u.DTS-sp.first+sp.dur > limit {
			continue
		}
		c.units = append(c.units, clipUnit{u: u, at: u.DTS*90000/int64(t.ClockRate) - start})
	}
	slices.SortStableFunc(c.units, func(a, b clipUnit) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.u.Track, b.u.Track))
	})
	return c, nil
}

// collector is the mpegts.Session that parseClip reads into.
type collector struct {
	tracks []*ingest.Track
	units  []ingest.Unit
}

func (c *collector) Start(tracks []*ingest.Track) error {
	c.tracks = tracks
	return nil
}

func (c *collector) WriteUnit(u *ingest.Unit) error {
	c.units = append(c.units, *u)
	return nil
}

func cloneData(d [][]byte) [][]byte {
	out := make([][]byte, len(d))
	for i, b := range d {
		out[i] = bytes.Clone(b)
	}
	return out
}
