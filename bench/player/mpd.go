package player

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"
	"github.com/cespare/xxhash/v2"
)

// manifest is what a DASH viewer needs from one MPD: the video
// representations with their SegmentTemplate timing. Shared read-only, like
// timelines.
type manifest struct {
	ast           time.Time     // availabilityStartTime + period start
	update        time.Duration // minimumUpdatePeriod (0: static)
	targetLatency time.Duration // ServiceDescription Latency@target, else 3 s
	reps          []dashRep     // ascending bandwidth
}

type dashRep struct {
	id          string
	bw          int
	media, init string // templates, relative to the MPD
	timescale   uint64
	pto         uint64
	startNumber uint64
	ato         time.Duration // availabilityTimeOffset
	segs        []dashSeg     // from the SegmentTimeline, oldest first
	dur         uint64        // @duration when there is no timeline
}

type dashSeg struct{ num, t, d uint64 }

var errNoVideo = errors.New("MPD has no video representation with a SegmentTemplate")

func newManifest(m *mpd.MPD) (*manifest, error) {
	if len(m.Periods) == 0 {
		return nil, errNoVideo
	}
	ast, err := time.Parse(time.RFC3339Nano, string(m.AvailabilityStartTime))
	if err != nil && m.AvailabilityStartTime != "" {
		return nil, fmt.Errorf("availabilityStartTime: %w", err)
	}
	p := m.Periods[len(m.Periods)-1] // live: the newest period
	if p.Start != nil {
		ast = ast.Add(time.Duration(*p.Start))
	}
	mf := &manifest{ast: ast, targetLatency: 3 * time.Second}
	if m.MinimumUpdatePeriod != nil {
		mf.update = time.Duration(*m.MinimumUpdatePeriod)
	}
	for _, sd := range m.ServiceDescription {
		if sd == nil {
			continue
		}
		for _, l := range sd.Latencies {
			if l != nil && l.Target != nil && *l.Target > 0 {
				mf.targetLatency = time.Duration(*l.Target) * time.Millisecond
			}
		}
	}
	for _, as := range p.AdaptationSets {
		if as == nil || !(as.ContentType == "video" || strings.HasPrefix(as.MimeType, "video/")) {
			continue
		}
		for _, r := range as.Representations {
			if r == nil {
				continue
			}
			st := r.SegmentTemplate
			if st == nil {
				st = as.SegmentTemplate
			}
			if st == nil || st.Media == "" {
				continue
			}
			rep := dashRep{id: r.Id, bw: int(r.Bandwidth), media: st.Media, init: st.Initialization, timescale: 1, startNumber: 1}
			if st.Timescale != nil && *st.Timescale > 0 {
				rep.timescale = uint64(*st.Timescale)
			}
			if st.PresentationTimeOffset != nil {
				rep.pto = *st.PresentationTimeOffset
			}
			if st.StartNumber != nil {
				rep.startNumber = uint64(*st.StartNumber)
			}
			rep.ato = time.Duration(float64(st.AvailabilityTimeOffset) * float64(time.Second))
			if st.Duration != nil {
				rep.dur = uint64(*st.Duration)
			}
			if tl := st.SegmentTimeline; tl != nil {
				num, t := rep.startNumber, uint64(0)
				for _, s := range tl.S {
					if s == nil || s.D == 0 {
						continue
					}
					if s.T != nil {
						t = *s.T
					}
					for k := 0; k <= max(s.R, 0) && len(rep.segs) < 100000; k++ {
						rep.segs = append(rep.segs, dashSeg{num, t, s.D})
						num, t = num+1, t+s.D
					}
				}
			}
			if len(rep.segs) == 0 && rep.dur == 0 {
				continue
			}
			mf.reps = append(mf.reps, rep)
		}
	}
	if len(mf.reps) == 0 {
		return nil, errNoVideo
	}
	sort.SliceStable(mf.reps, func(i, j int) bool { return mf.reps[i].bw < mf.reps[j].bw })
	return mf, nil
}

// wall is the date-time of media time t (in timescale units) of r.
func (mf *manifest) wall(r *dashRep, t uint64) time.Time {
	return mf.ast.Add(time.Duration(float64(int64(t)-int64(r.pto)) / float64(r.timescale) * float64(time.Second)))
}

// segment returns segment num of r: from the timeline, or predicted from the
// last listed one (or @duration) by $Number$ timing.
func (r *dashRep) segment(num uint64) (dashSeg, bool) {
	if n := len(r.segs); n > 0 {
		first, last := r.segs[0], r.segs[n-1]
		switch {
		case num < first.num:
			return dashSeg{}, false
		case num <= last.num:
			return r.segs[num-first.num], true
		}
		return dashSeg{num, last.t + (num-last.num)*last.d, last.d}, true
	}
	if num < r.startNumber {
		return dashSeg{}, false
	}
	return dashSeg{num, (num - r.startNumber) * r.dur, r.dur}, true
}

// numberAt is the segment holding media time t.
func (r *dashRep) numberAt(t uint64) uint64 {
	for i := len(r.segs) - 1; i >= 0; i-- {
		if r.segs[i].t <= t {
			if s := r.segs[i]; t < s.t+s.d || i == len(r.segs)-1 {
				return s.num + (t-s.t)/max(s.d, 1)
			}
			return r.segs[i].num
		}
	}
	if len(r.segs) > 0 {
		return r.segs[0].num
	}
	return r.startNumber + t/max(r.dur, 1)
}

// expand fills a SegmentTemplate: $RepresentationID$, $Bandwidth$, $Number$
// and $Time$ with an optional %0Nd width, and $$.
func (r *dashRep) expand(tpl string, s dashSeg) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(tpl, '$')
		if i < 0 {
			b.WriteString(tpl)
			return b.String()
		}
		b.WriteString(tpl[:i])
		rest := tpl[i+1:]
		j := strings.IndexByte(rest, '$')
		if j < 0 {
			b.WriteString(tpl[i:])
			return b.String()
		}
		id, format := rest[:j], ""
		if k := strings.IndexByte(id, '%'); k >= 0 {
			id, format = id[:k], id[k:]
		}
		var v string
		switch id {
		case "":
			v = "$"
		case "RepresentationID":
			v = r.id
		case "Bandwidth":
			v = strconv.Itoa(r.bw)
		case "Number":
			v = width(s.num, format)
		case "Time":
			v = width(s.t, format)
		default:
			v = "$" + rest[:j] + "$"
		}
		b.WriteString(v)
		tpl = rest[j+1:]
	}
}

func width(n uint64, format string) string {
	s := strconv.FormatUint(n, 10)
	if w, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(format, "%0"), "d")); err == nil && w > len(s) && w < 32 {
		s = strings.Repeat("0", w-len(s)) + s
	}
	return s
}

var manifests = struct {
	mu sync.Mutex
	m  map[cacheKey]*manifest
}{m: make(map[cacheKey]*manifest)}

// parseMPD returns the manifest of an MPD body, shared between viewers.
func parseMPD(body []byte) (*manifest, error) {
	k := cacheKey{xxhash.Sum64(body), len(body)}
	manifests.mu.Lock()
	mf, ok := manifests.m[k]
	manifests.mu.Unlock()
	if ok {
		return mf, nil
	}
	// dash-mpd's own XML decoder (a fork of encoding/xml) loops forever on
	// some malformed documents (found by FuzzManifest); the standard
	// decoder checks well-formedness first.
	if err := wellFormed(body); err != nil {
		return nil, err
	}
	m, err := mpd.ReadFromString(string(body))
	if err != nil {
		return nil, err
	}
	if mf, err = newManifest(m); err != nil {
		return nil, err
	}
	manifests.mu.Lock()
	if len(manifests.m) >= 1024 {
		clear(manifests.m)
	}
	manifests.m[k] = mf
	manifests.mu.Unlock()
	return mf, nil
}

// wellFormed reports whether body is one well-formed XML document.
func wellFormed(body []byte) error {
	d := xml.NewDecoder(bytes.NewReader(body))
	root := false
	for {
		tok, err := d.Token()
		if err == io.EOF {
			if !root {
				return errors.New("MPD: no root element")
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("MPD: %w", err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			root = true
		}
	}
}
