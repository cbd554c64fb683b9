package mpegts

import (
	"bytes"
	"fmt"
	"io"
)

const (
	packetSize = 188
	syncByte   = 0x47
	// maxUnsynced is how many bytes may pass without MPEG-TS packet sync.
	// mediacommon skips garbage silently, so without this bound a publisher
	// sending anything but MPEG-TS would hold its stream name until the
	// connection drops.
	maxUnsynced = 64 << 10
	// syncRun is how many sync bytes in a row, 188 bytes apart, prove sync;
	// random data matches that by chance once in 2^24 tries.
	syncRun = 3
)

// guard passes the stream through unchanged while it watches the packet
// sync and remembers the first read error.
type guard struct {
	r      io.Reader
	n      int64 // bytes read so far
	err    error // first error of r
	failed error

	phase    int // offset of the next byte inside its packet; -1 while searching
	run      int // packets in a row that started with the sync byte
	lastSync int64
}

func (g *guard) Read(p []byte) (int, error) {
	if g.failed != nil {
		return 0, g.failed
	}
	n, err := g.r.Read(p)
	g.scan(p[:n])
	g.n += int64(n)
	if err != nil && g.err == nil {
		g.err = err
	}
	if g.n-g.lastSync > maxUnsynced {
		g.failed = fmt.Errorf("%w: no MPEG-TS packet sync in %d KiB (is the publisher sending MPEG-TS?)", ErrMalformed, (g.n-g.lastSync)>>10)
		return 0, g.failed
	}
	return n, err
}

func (g *guard) scan(p []byte) {
	for i := 0; i < len(p); {
		if g.phase < 0 {
			j := bytes.IndexByte(p[i:], syncByte)
			if j < 0 {
				return
			}
			i += j
			g.phase, g.run = 0, 0
		}
		if g.phase == 0 {
			if p[i] != syncByte {
				g.phase, g.run = -1, 0
				continue
			}
			g.run++
			if g.run >= syncRun {
				g.lastSync = g.n + int64(i)
			}
		}
		step := min(packetSize-g.phase, len(p)-i)
		i += step
		g.phase = (g.phase + step) % packetSize
	}
}
