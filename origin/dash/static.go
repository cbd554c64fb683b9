package dash

import (
	"fmt"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/livecdn/livecdn/origin/live"
)

// Static writes a static (on-demand) MPD of archived segments: one Period
// per publish session, back to back, each starting at its first listed
// segment (presentationTimeOffset), and the whole range's duration.
func Static(rends []live.Snapshot, segmentTarget time.Duration) ([]byte, error) {
	m := &mpd.MPD{
		XMLNs:         "urn:mpeg:dash:schema:mpd:2011",
		Profiles:      "urn:mpeg:dash:profile:isoff-live:2011",
		Type:          mpd.Ptr("static"),
		MinBufferTime: dur(segmentTarget),
	}
	var at time.Duration
	for _, session := range sessions(rends) {
		p, covered := period(time.Time{}, session, rends, Config{})
		if p == nil {
			continue
		}
		p.Start = dur(at)
		p.Duration = dur(covered)
		// Each representation starts where its first listed segment starts.
		for _, as := range p.AdaptationSets {
			for _, rep := range as.Representations {
				t := rep.SegmentTemplate
				if t.SegmentTimeline != nil && len(t.SegmentTimeline.S) > 0 && t.SegmentTimeline.S[0].T != nil {
					t.PresentationTimeOffset = mpd.Ptr(*t.SegmentTimeline.S[0].T)
				}
			}
		}
		m.Periods = append(m.Periods, p)
		at += covered
	}
	if len(m.Periods) == 0 {
		return nil, fmt.Errorf("no segments in the range")
	}
	m.MediaPresentationDuration = dur(at)
	var b strings.Builder
	if _, err := m.Write(&b, "  ", true); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
