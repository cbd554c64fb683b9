package mpegts

// mask33 keeps the 33 bits of an MPEG-TS PTS/DTS.
const mask33 = 1<<33 - 1

// timeline unwraps 33-bit 90 kHz timestamps (they wrap every 26.5 hours)
// into a non-wrapping int64. One timeline serves all tracks of a program
// because they run on one clock; tracks sit close to each other on it, so
// the shortest step on the 33-bit circle is always the right one.
type timeline struct {
	started bool
	last    int64 // last raw timestamp
	now     int64 // its unwrapped value
}

// unwrap returns the unwrapped value of raw. The first timestamp keeps its
// raw value, so a stream's times stay those of the publisher's clock.
func (tl *timeline) unwrap(raw int64) int64 {
	raw &= mask33
	if !tl.started {
		tl.started, tl.last, tl.now = true, raw, raw
		return raw
	}
	tl.now += delta33(raw, tl.last)
	tl.last = raw
	return tl.now
}

// delta33 returns a-b as the shortest signed step on the 33-bit circle, in
// [-2^32, 2^32). PTS-DTS of one unit goes through it, so a PTS that already
// wrapped while its DTS did not still lands after the DTS.
func delta33(a, b int64) int64 {
	d := (a - b) & mask33
	if d >= 1<<32 {
		d -= 1 << 33
	}
	return d
}

// rescaler converts 90 kHz ticks to another clock rate exactly: the ratio is
// reduced once, and each conversion is one multiply and one floor division,
// so the error never accumulates (48 kHz is t*8/15).
type rescaler struct{ num, den int64 }

func newRescaler(rate int) rescaler {
	g := gcd(int64(rate), 90000)
	return rescaler{num: int64(rate) / g, den: 90000 / g}
}

func (r rescaler) conv(t int64) int64 {
	if r.num == r.den {
		return t
	}
	return floorDiv(t*r.num, r.den)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// floorDiv divides rounding toward minus infinity, so times before zero
// convert consistently with times after it.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}
