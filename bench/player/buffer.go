package player

import "time"

// buffer models a player's forward buffer on the media timeline, expressed
// in program date-time (wall clock of capture): the playhead moves at real
// speed while playing and the player stalls when it reaches the buffered end.
// It is evaluated lazily at each event, which is exact: a stall begins at
// last + (end - playhead) even if no event happens then.
type buffer struct {
	started    bool
	playing    bool
	pending    bool      // enough is buffered; the first frame is due at startAt
	startAt    time.Time // when playback begins (first media + startDelay)
	playhead   time.Time // media position, as program date-time
	end        time.Time // end of contiguous buffered media
	last       time.Time // wall time playhead was last brought up to date
	stallStart time.Time
	// resume is how much must be buffered ahead of the playhead to (re)start.
	resume time.Duration
	// startDelay is the player's own time from playable media to the first
	// frame (media source setup, decoder start); the playhead waits meanwhile.
	startDelay time.Duration

	stalls    int
	stallTime time.Duration
}

// advance brings the playhead to wall time now. It reports whether playback
// started and whether a stall began since the last call.
func (b *buffer) advance(now time.Time) (started, stalled bool) {
	if b.pending && !now.Before(b.startAt) {
		b.pending, b.playing, b.started, started = false, true, true, true
		b.last = b.startAt
	}
	if b.playing {
		ahead := b.end.Sub(b.playhead)
		if el := now.Sub(b.last); el <= ahead {
			b.playhead = b.playhead.Add(el)
		} else {
			b.playhead = b.end
			b.playing = false
			b.stalls++
			b.stallStart = b.last.Add(ahead)
			stalled = true
		}
	}
	b.last = now
	return started, stalled
}

// seek sets where playback starts (before the first start only).
func (b *buffer) seek(pos time.Time) {
	if !b.started {
		b.playhead = pos
	}
}

// add appends media [from, from+dur) at wall time now. It returns whether
// playback started or resumed, and whether a stall began before it.
func (b *buffer) add(from time.Time, dur time.Duration, now time.Time) (started, resumed, stalled bool) {
	started, stalled = b.advance(now)
	to := from.Add(dur)
	switch {
	case b.end.IsZero():
		b.end = to
		if b.playhead.IsZero() || b.playhead.Before(from) {
			b.playhead = from
		}
	case from.After(b.end.Add(dur / 2)):
		// A hole (a part we skipped or lost): players jump small gaps.
		b.end = to
		if b.playhead.Before(from) {
			b.playhead = from
		}
	case to.After(b.end):
		b.end = to
	}
	if !b.playing && !b.pending && b.end.Sub(b.playhead) >= b.resume && b.playhead.Before(b.end) {
		if !b.started {
			b.pending, b.startAt = true, now.Add(b.startDelay)
			s, st := b.advance(now)
			started, stalled = started || s, stalled || st
		} else {
			b.playing = true
			b.stallTime += now.Sub(b.stallStart)
			resumed = true
		}
	}
	return started, resumed, stalled
}

// ahead is the buffered media ahead of the playhead.
func (b *buffer) ahead() time.Duration {
	return max(b.end.Sub(b.playhead), 0)
}

// latency is the live latency: wall clock minus the playhead's date-time.
func (b *buffer) latency(now time.Time) time.Duration {
	return now.Sub(b.playhead)
}

// finish closes an open stall at now and returns the stall time in total.
func (b *buffer) finish(now time.Time) time.Duration {
	b.advance(now)
	t := b.stallTime
	if b.started && !b.playing {
		t += now.Sub(b.stallStart)
	}
	return t
}
