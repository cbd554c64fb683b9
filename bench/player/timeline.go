package player

import (
	"errors"
	"sync"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/cespare/xxhash/v2"
)

// timeline is what a viewer needs from one media playlist: every listed
// segment and part by media sequence number with its date-time. It is built
// once per distinct body and shared read-only by every viewer that got it.
type timeline struct {
	firstMSN int // sequence number of segs[0] (skipped segments counted)
	segs     []segInfo
	trailing []item // parts of the segment in progress, msn = nextMSN()
	initURI  string
	target   time.Duration // EXT-X-TARGETDURATION
	partTgt  time.Duration // 0 without parts
	holdBack time.Duration // PART-HOLD-BACK (or 3 parts), HOLD-BACK for segments
	canBlock bool
	canSkip  bool
	endlist  bool
	hasPDT   bool
	hint     string // EXT-X-PRELOAD-HINT URI
}

// segInfo is one complete segment: the whole segment and its parts (empty
// once the server stopped listing them).
type segInfo struct {
	item
	parts []item
}

// item is a segment (part -1) or a part.
type item struct {
	msn, part   int
	uri         string
	dur         time.Duration
	pdt         time.Time // zero when the playlist has no date-times
	independent bool
}

func (t *timeline) nextMSN() int { return t.firstMSN + len(t.segs) }

// where says whether the item at (msn, part) is listed.
type where int

const (
	listed where = iota // the item is returned
	notYet              // newer than the playlist: reload
	behind              // older than the window
)

// lookup finds part p of segment msn. When the segment is complete but its
// parts are no longer listed, the whole segment is returned (part -1). A
// part index past the end of a complete segment means the next segment's
// first part, as in a blocking reload; the position to ask for next is
// returned normalized that way.
func (t *timeline) lookup(msn, p int) (item, where, int, int) {
	for {
		switch {
		case msn < t.firstMSN:
			return item{}, behind, msn, p
		case msn < t.nextMSN():
			s := &t.segs[msn-t.firstMSN]
			if len(s.parts) == 0 {
				return s.item, listed, msn, p
			}
			if p < len(s.parts) {
				return s.parts[p], listed, msn, p
			}
			msn, p = msn+1, 0
		case msn == t.nextMSN() && p < len(t.trailing):
			return t.trailing[p], listed, msn, p
		default:
			return item{}, notYet, msn, p
		}
	}
}

// segment returns complete segment msn.
func (t *timeline) segment(msn int) (item, where) {
	switch {
	case msn < t.firstMSN:
		return item{}, behind
	case msn < t.nextMSN():
		return t.segs[msn-t.firstMSN].item, listed
	}
	return item{}, notYet
}

// edge is the date-time at the end of the newest listed media.
func (t *timeline) edge() time.Time {
	if n := len(t.trailing); n > 0 {
		last := t.trailing[n-1]
		return last.pdt.Add(last.dur)
	}
	if n := len(t.segs); n > 0 {
		last := t.segs[n-1]
		return last.pdt.Add(last.dur)
	}
	return time.Time{}
}

var errNoMedia = errors.New("media playlist lists no segments")

// newTimeline converts a parsed media playlist.
func newTimeline(m *playlist.Media) (*timeline, error) {
	t := &timeline{
		firstMSN: m.MediaSequence,
		target:   time.Duration(m.TargetDuration) * time.Second,
		endlist:  m.Endlist,
	}
	if m.Skip != nil {
		t.firstMSN += m.Skip.SkippedSegments
	}
	if m.Map != nil {
		t.initURI = m.Map.URI
	}
	if m.PartInf != nil {
		t.partTgt = m.PartInf.PartTarget
	}
	if sc := m.ServerControl; sc != nil {
		t.canBlock = sc.CanBlockReload
		t.canSkip = sc.CanSkipUntil != nil && *sc.CanSkipUntil > 0
		if sc.PartHoldBack != nil {
			t.holdBack = *sc.PartHoldBack
		}
	}
	if t.holdBack == 0 {
		if t.partTgt > 0 {
			t.holdBack = 3 * t.partTgt
		} else {
			t.holdBack = 3 * t.target
		}
	}
	if m.PreloadHint != nil {
		t.hint = m.PreloadHint.URI
	}
	if len(m.Segments) == 0 && len(m.Parts) == 0 {
		return nil, errNoMedia
	}
	// Date-times: the first tagged segment anchors the others, forwards and
	// backwards by duration.
	anchor, at := -1, time.Time{}
	for i, s := range m.Segments {
		if s != nil && s.DateTime != nil {
			anchor, at = i, *s.DateTime
			break
		}
	}
	t.hasPDT = anchor >= 0
	start := at
	for i := anchor - 1; i >= 0; i-- {
		start = start.Add(-m.Segments[i].Duration)
	}
	t.segs = make([]segInfo, 0, len(m.Segments))
	pdt := start
	for i, s := range m.Segments {
		if s == nil {
			return nil, errNoMedia
		}
		if s.DateTime != nil && i > anchor {
			pdt = *s.DateTime // re-anchor at each tag: clocks may be corrected
		}
		msn := t.firstMSN + i
		si := segInfo{item: item{msn: msn, part: -1, uri: s.URI, dur: s.Duration, independent: true}}
		if t.hasPDT {
			si.pdt = pdt
		}
		si.parts = partItems(s.Parts, msn, si.pdt, t.hasPDT)
		t.segs = append(t.segs, si)
		pdt = pdt.Add(s.Duration)
	}
	var tpdt time.Time
	if t.hasPDT {
		tpdt = pdt
	}
	t.trailing = partItems(m.Parts, t.nextMSN(), tpdt, t.hasPDT)
	return t, nil
}

func partItems(parts []*playlist.MediaPart, msn int, pdt time.Time, hasPDT bool) []item {
	if len(parts) == 0 {
		return nil
	}
	out := make([]item, 0, len(parts))
	for i, p := range parts {
		if p == nil {
			continue
		}
		it := item{msn: msn, part: i, uri: p.URI, dur: p.Duration, independent: p.Independent || i == 0}
		if hasPDT {
			it.pdt = pdt
		}
		out = append(out, it)
		pdt = pdt.Add(p.Duration)
	}
	return out
}

// parseCache shares parsed playlists between viewers: thousands of viewers
// receive byte-identical bodies, and parsing each copy would cost more CPU
// than the server spends sending it. Keyed by a 64-bit hash and the length.
type parseCache struct {
	mu sync.Mutex
	m  map[cacheKey]*timeline
}

type cacheKey struct {
	sum uint64
	n   int
}

var playlists = parseCache{m: make(map[cacheKey]*timeline)}

// parseMedia returns the timeline of a media playlist body.
func parseMedia(body []byte) (*timeline, error) {
	k := cacheKey{xxhash.Sum64(body), len(body)}
	playlists.mu.Lock()
	t, ok := playlists.m[k]
	playlists.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := offload(func() (*timeline, error) {
		var m playlist.Media
		if err := m.Unmarshal(body); err != nil {
			return nil, err
		}
		return newTimeline(&m)
	})
	if err != nil {
		return nil, err
	}
	playlists.mu.Lock()
	if len(playlists.m) >= 4096 {
		clear(playlists.m) // live playlists age in seconds: old entries are dead anyway
	}
	playlists.m[k] = t
	playlists.mu.Unlock()
	return t, nil
}
