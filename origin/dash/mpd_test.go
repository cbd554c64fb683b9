package dash

import (
	"testing"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/livecdn/livecdn/origin/cmaf"
	"github.com/livecdn/livecdn/origin/live"
)

func TestMPDPeriodPerSession(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	zero1, zero2 := created, created.Add(30*time.Second)
	mk := func(msn int64, session int, zero time.Time, start int64, complete bool) live.Segment {
		return live.Segment{MSN: msn, Session: session, Start: start, Duration: 180000, Complete: complete, Size: 1000,
			PDT: zero.Add(live.Dur(start, 90000))}
	}
	video := live.Snapshot{Name: "video", Video: true, Timescale: 90000, Info: cmaf.Info{Codec: "avc1.64001f", Width: 640, Height: 360, FPS: 29.97},
		Segments: []live.Segment{mk(7, 1, zero1, 0, true), mk(8, 1, zero1, 180000, true), mk(9, 2, zero2, 0, true), mk(10, 2, zero2, 180000, false)}}
	out, err := MPD(created, created.Add(40*time.Second), []live.Snapshot{video},
		Config{PartTarget: 200 * time.Millisecond, SegmentTarget: 2 * time.Second, TimeURL: "http://o/api/time"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := mpd.MPDFromBytes(out)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, out)
	}
	if m.GetType() != "dynamic" || len(m.Periods) != 2 || len(m.UTCTimings) != 2 {
		t.Fatalf("want dynamic MPD with 2 periods and UTCTiming:\n%s", out)
	}
	p1, p2 := m.Periods[0], m.Periods[1]
	if time.Duration(*p1.Start) != 0 || time.Duration(*p2.Start) != 30*time.Second {
		t.Errorf("period starts %v, %v", *p1.Start, *p2.Start)
	}
	st := p1.AdaptationSets[0].Representations[0].SegmentTemplate
	if *st.StartNumber != 7 || st.Initialization != "video/init1.mp4" || len(st.SegmentTimeline.S) != 1 || st.SegmentTimeline.S[0].R != 1 {
		t.Errorf("period 1 template %+v timeline %+v", st, st.SegmentTimeline.S)
	}
	st2 := p2.AdaptationSets[0].Representations[0].SegmentTemplate
	// The segment in progress is not in the timeline; LL-DASH clients reach it through availabilityTimeOffset.
	if *st2.StartNumber != 9 || st2.Initialization != "video/init2.mp4" || len(st2.SegmentTimeline.S) != 1 || st2.SegmentTimeline.S[0].R != 0 ||
		float64(st2.AvailabilityTimeOffset) != 1.8 {
		t.Errorf("period 2 template %+v", st2)
	}
	if rep := p1.AdaptationSets[0].Representations[0]; rep.FrameRate != "30000/1001" || rep.Width != 640 {
		t.Errorf("representation %+v", rep)
	}
}
