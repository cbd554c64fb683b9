package player

import (
	"testing"
	"time"
)

const liveMPD = `<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" availabilityStartTime="2026-11-25T14:45:44.571Z" minimumUpdatePeriod="PT1S" timeShiftBufferDepth="PT6S">
  <ServiceDescription id="0"><Latency referenceId="0" target="2600" max="7800" min="1300"></Latency></ServiceDescription>
  <Period id="p1" start="PT0S">
    <AdaptationSet id="0" contentType="video" mimeType="video/mp4">
      <Representation id="video" bandwidth="390764" width="480" height="270">
        <SegmentTemplate media="video/seg$Number%05d$.m4s" initialization="$RepresentationID$/init1.mp4" startNumber="3" timescale="90000" availabilityTimeOffset="1.8">
          <SegmentTimeline><S t="180000" d="180000" r="2"></S></SegmentTimeline>
        </SegmentTemplate>
      </Representation>
    </AdaptationSet>
  </Period>
</MPD>`

func TestManifest(t *testing.T) {
	mf, err := parseMPD([]byte(liveMPD))
	if err != nil {
		t.Fatal(err)
	}
	r := &mf.reps[0]
	if mf.targetLatency != 2600*time.Millisecond || mf.update != time.Second || r.ato != 1800*time.Millisecond || len(r.segs) != 3 {
		t.Fatalf("%+v %+v", mf, r)
	}
	s, ok := r.segment(6) // past the timeline: predicted by $Number$ timing
	if !ok || s.t != 180000+3*180000 || r.expand(r.media, s) != "video/seg00006.m4s" || r.expand(r.init, s) != "video/init1.mp4" {
		t.Fatalf("segment 6: %+v %q", s, r.expand(r.media, s))
	}
	ast := time.Date(2026, 11, 25, 14, 45, 44, 571e6, time.UTC)
	if got := mf.wall(r, 180000); !got.Equal(ast.Add(2 * time.Second)) {
		t.Fatalf("wall %v", got)
	}
	if n := r.numberAt(180000*2 + 5); n != 4 {
		t.Fatalf("numberAt %d, want 4", n)
	}
	if _, ok := r.segment(2); ok {
		t.Fatal("segment before startNumber")
	}
}

// FuzzManifest: any MPD either fails or gives a manifest whose lookups and
// template expansion never panic.
func FuzzManifest(f *testing.F) {
	f.Add([]byte(liveMPD))
	f.Fuzz(func(t *testing.T, b []byte) {
		mf, err := parseMPD(b)
		if err != nil {
			return
		}
		for i := range mf.reps {
			r := &mf.reps[i]
			for n := uint64(0); n < 8; n++ {
				if s, ok := r.segment(r.startNumber + n); ok {
					_ = r.expand(r.media, s)
					_ = mf.wall(r, s.t)
				}
			}
			_ = r.numberAt(12345)
		}
	})
}
