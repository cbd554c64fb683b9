package dash

import (
	"strings"
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

func TestStaticPeriodsBackToBack(t *testing.T) {
	at := time.Unix(1_700_000_000, 0)
	s := live.Snapshot{Name: "video", Video: true, Timescale: 90000, Info: cmaf.Info{Codec: "avc1.64001f", Width: 320, Height: 180}}
	for msn, session := range []int{1, 1, 1, 2, 2} {
		start := int64(msn) * 180000
		if session == 2 {
			start = int64(msn-3) * 180000
		}
		s.Segments = append(s.Segments, live.Segment{MSN: int64(msn + 10), Session: session, Start: start,
			PDT: at.Add(time.Duration(msn) * 2 * time.Second), Duration: 180000, Complete: true, Size: 1000})
	}
	s.Segments = s.Segments[1:] // the range starts inside session 1: a non-zero first time
	b, err := Static([]live.Snapshot{s}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.ReadFromString(string(b))
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if *m.Type != "static" || len(m.Periods) != 2 || time.Duration(*m.MediaPresentationDuration) != 8*time.Second {
		t.Fatalf("MPD:\n%s", b)
	}
	p0, p1 := m.Periods[0], m.Periods[1]
	if time.Duration(*p0.Start) != 0 || time.Duration(*p1.Start) != 4*time.Second {
		t.Errorf("period starts %v, %v; want 0s, 4s", *p0.Start, *p1.Start)
	}
	tmpl := p0.AdaptationSets[0].Representations[0].SegmentTemplate
	if *tmpl.PresentationTimeOffset != 180000 || *tmpl.StartNumber != 11 || !strings.HasSuffix(tmpl.Initialization, "init1.mp4") {
		t.Errorf("first period template: pto %d start %d init %s", *tmpl.PresentationTimeOffset, *tmpl.StartNumber, tmpl.Initialization)
	}
}
