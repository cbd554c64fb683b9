package player

import (
	"testing"
	"time"
)

const llPlaylist = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.60000,CAN-SKIP-UNTIL=12.00000
#EXT-X-PART-INF:PART-TARGET=0.20000
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-MAP:URI="init1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-25T14:45:44.571Z
#EXTINF:2.00000,
seg4.m4s
#EXT-X-PART:DURATION=0.20000,URI="part5.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.20000,URI="part5.1.m4s"
#EXTINF:0.40000,
seg5.m4s
#EXT-X-PART:DURATION=0.20000,URI="part6.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part6.1.m4s"
`

func TestTimeline(t *testing.T) {
	tl, err := parseMedia([]byte(llPlaylist))
	if err != nil {
		t.Fatal(err)
	}
	pdt0 := time.Date(2026, 11, 25, 14, 45, 44, 571e6, time.UTC)
	for _, c := range []struct {
		msn, part int
		w         where
		uri       string
		pdt       time.Duration
		nmsn, np  int
	}{
		{3, 0, behind, "", 0, 3, 0},
		{4, 0, listed, "seg4.m4s", 0, 4, 0}, // parts no longer listed: the segment
		{5, 1, listed, "part5.1.m4s", 2200 * time.Millisecond, 5, 1},
		{5, 2, listed, "part6.0.m4s", 2400 * time.Millisecond, 6, 0}, // past the end: next segment
		{6, 1, notYet, "", 0, 6, 1},
		{7, 0, notYet, "", 0, 7, 0},
	} {
		it, w, nmsn, np := tl.lookup(c.msn, c.part)
		if w != c.w || it.uri != c.uri || nmsn != c.nmsn || np != c.np || (w == listed && !it.pdt.Equal(pdt0.Add(c.pdt))) {
			t.Errorf("lookup(%d,%d) = %q %v %v (%d,%d), want %q %v +%v (%d,%d)", c.msn, c.part, it.uri, w, it.pdt, nmsn, np, c.uri, c.w, c.pdt, c.nmsn, c.np)
		}
	}
	if !tl.edge().Equal(pdt0.Add(2600*time.Millisecond)) || tl.holdBack != 600*time.Millisecond || !tl.canSkip || !tl.canBlock {
		t.Errorf("edge %v holdBack %v skip %v block %v", tl.edge(), tl.holdBack, tl.canSkip, tl.canBlock)
	}
}

// FuzzTimeline: any playlist either fails to parse or gives a timeline
// whose lookups never panic.
func FuzzTimeline(f *testing.F) {
	f.Add([]byte(llPlaylist))
	f.Add([]byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2,\na.ts\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := parseMedia(b)
		if err != nil {
			return
		}
		for msn := tl.firstMSN - 1; msn <= tl.nextMSN()+1; msn++ {
			for p := -1; p < 12; p++ {
				tl.lookup(msn, max(p, 0))
			}
			tl.segment(msn)
		}
		_ = tl.edge()
	})
}
