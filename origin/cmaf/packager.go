package cmaf

import (
	"errors"
	"fmt"
	"time"

	"github.com/livecdn/livecdn/ingest"
)

// Config holds the packaging targets.
type Config struct {
	// PartTarget is the LL-HLS part target duration. Parts never exceed it
	// (beyond timestamp jitter of a millisecond); shorter parts mean lower
	// latency but more requests and more playlist updates. Default 200 ms.
	PartTarget time.Duration
	// SegmentTarget is the minimum segment duration: a segment ends at the
	// first keyframe after it, so the publisher's GOP decides the real length.
	// Default 2 s.
	SegmentTarget time.Duration
}

// DefaultConfig returns the packaging defaults (200 ms parts, 2 s segments).
func DefaultConfig() Config {
	return Config{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second}
}

// Part is one complete CMAF part (a single moof+mdat fragment) of one track.
type Part struct {
	// Track indexes the tracks the Packager was made with.
	Track int
	// MSN is the media sequence number of the segment the part belongs to;
	// it is the same across tracks for parts at the same time.
	MSN int64
	// Index is the part's position in its segment, from 0.
	Index int
	// Start is the decode time of the first sample (tfdt), in the track's
	// clock ticks counted from the session's first keyframe.
	Start int64
	// Duration is the sum of the sample durations, in ticks.
	Duration int64
	// Independent is set when the part starts with a keyframe.
	Independent bool
	// Last is set on the final part of a segment.
	Last bool
	// Data is the fragment: moof followed by mdat.
	Data []byte
	// Trigger is when the unit that let the part be cut arrived (zero on the
	// final flush); the origin measures part readiness from it.
	Trigger time.Time
}

// Emit receives every part the moment it is complete.
type Emit func(*Part)

// Packager cuts the units of one publish session into parts and segments.
//
// The first video track leads: it cuts segments at keyframes. Every other
// track follows the leader's boundaries, so segment N covers the same time in
// every rendition and one MSN names the same moment everywhere (aligned ABR
// renditions, rendition reports, DASH $Number$). Follower units are held
// until the leader has passed their timestamp, because that is only when the
// leader's next boundary is known.
type Packager struct {
	cfg    Config
	emit   Emit
	tracks []*track
	leader *track
	bounds []boundary
}

// boundary is a segment start the leader decided, in leader ticks.
type boundary struct {
	msn  int64
	at   int64 // media time in leader ticks
	rate int64 // the leader's clock rate
}

// maxHold bounds how far followers may run ahead of a stalled leader.
const maxHold = time.Second

// NewPackager returns a packager for tracks whose first segment gets MSN firstMSN.
func NewPackager(cfg Config, tracks []*ingest.Track, firstMSN int64, emit Emit) (*Packager, error) {
	if cfg.PartTarget <= 0 || cfg.SegmentTarget < cfg.PartTarget {
		return nil, fmt.Errorf("bad packaging targets: part %v, segment %v", cfg.PartTarget, cfg.SegmentTarget)
	}
	if len(tracks) == 0 {
		return nil, errors.New("no tracks")
	}
	p := &Packager{cfg: cfg, emit: emit}
	for i, t := range tracks {
		if t.ClockRate <= 0 {
			return nil, fmt.Errorf("track %d: bad clock rate %d", i, t.ClockRate)
		}
		tr := newTrack(i, t, cfg)
		tr.msn = firstMSN
		p.tracks = append(p.tracks, tr)
		if p.leader == nil && t.IsVideo() {
			p.leader = tr
		}
	}
	if p.leader == nil {
		p.leader = p.tracks[0]
	}
	p.leader.leads = true
	return p, nil
}

// Write packages one unit. Units of each track must come in decode order;
// tracks may interleave loosely.
func (p *Packager) Write(u *ingest.Unit) error {
	if u.Track < 0 || u.Track >= len(p.tracks) {
		return fmt.Errorf("unit for unknown track %d", u.Track)
	}
	t := p.tracks[u.Track]
	if t.leads {
		if !t.started {
			if !u.Key {
				return nil // a stream starts at a keyframe
			}
			t.start(u.DTS)
			p.bounds = append(p.bounds, boundary{t.msn, 0, t.rate})
			for _, f := range p.tracks {
				if f != t {
					f.origin = rescale(u.DTS, t.rate, f.rate)
				}
			}
		}
		if cut := t.push(u, p.emit, nil); cut {
			p.bounds = append(p.bounds, boundary{t.msn, t.segStart, t.rate})
			p.trimBounds()
		}
		p.release(false)
		return nil
	}
	t.held = append(t.held, u)
	p.release(false)
	return nil
}

// release feeds follower units the leader has caught up with.
func (p *Packager) release(all bool) {
	l := p.leader
	for _, t := range p.tracks {
		if t == l {
			continue
		}
		n := 0
		for _, u := range t.held {
			ahead := !l.started || u.DTS*l.rate > l.lastDTS*t.rate
			span := rescale(t.held[len(t.held)-1].DTS-u.DTS, t.rate, int64(time.Second))
			if ahead && !all && span < int64(maxHold) {
				break
			}
			n++
			if !l.started {
				continue // nothing to align to yet: drop
			}
			if u.DTS < t.origin {
				continue // before the first video keyframe
			}
			t.push(u, p.emit, p.bounds)
		}
		t.held = t.held[n:]
	}
}

// trimBounds forgets boundaries every follower has passed.
func (p *Packager) trimBounds() {
	minMSN := p.leader.msn
	for _, t := range p.tracks {
		if t.msn < minMSN {
			minMSN = t.msn
		}
	}
	i := 0
	for i < len(p.bounds)-1 && p.bounds[i+1].msn <= minMSN {
		i++
	}
	p.bounds = p.bounds[i:]
}

// Flush ends the session: held units are packaged and every track's last part
// is emitted, closing its segment.
func (p *Packager) Flush() {
	p.release(true)
	for _, t := range p.tracks {
		t.flush(p.emit)
	}
}
