package origin_test

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

// LL-HLS conformance against rfc8216bis with a live RTMP publisher: 1 s
// segments (GOP 30 at 30 fps) so the delta-update window is reached quickly.
func TestLLHLSConformance(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "", "--segment", "1s", "--part", "200ms")
	testenv.PublishSource(t, testenv.Source{Duration: 40 * time.Second, Realtime: true, GOP: 30}, "flv", n.rtmpURL("ll"))
	base := n.HTTP + "/live/ll"

	// Wait for more than CAN-SKIP-UNTIL (6 target durations = 6 s) of segments.
	m := waitSegments(t, base+"/video/index.m3u8", 8, 30*time.Second)
	var mv playlist.Multivariant
	if err := mv.Unmarshal(mustGet(t, base+"/index.m3u8")); err != nil {
		t.Fatalf("multivariant: %v", err)
	}
	if len(mv.Variants) != 1 || mv.Variants[0].Audio != "audio" || mv.Variants[0].AverageBandwidth == nil ||
		mv.Variants[0].Resolution != "320x180" || mv.Variants[0].FrameRate == nil || len(mv.Variants[0].Codecs) != 2 {
		t.Errorf("variant lacks attributes: %+v", mv.Variants[0])
	}
	if len(mv.Renditions) != 1 || mv.Renditions[0].GroupID != "audio" {
		t.Errorf("audio rendition group missing: %+v", mv.Renditions)
	}

	sc := m.ServerControl
	if sc == nil || !sc.CanBlockReload || sc.PartHoldBack == nil || *sc.PartHoldBack < 3*m.PartInf.PartTarget ||
		sc.CanSkipUntil == nil || *sc.CanSkipUntil < 6*time.Duration(m.TargetDuration)*time.Second {
		t.Fatalf("EXT-X-SERVER-CONTROL: %+v", sc)
	}
	if m.PartInf == nil || m.PartInf.PartTarget != 200*time.Millisecond {
		t.Fatalf("EXT-X-PART-INF: %+v", m.PartInf)
	}
	if m.PreloadHint == nil || len(m.RenditionReport) != 1 {
		t.Errorf("missing preload hint or rendition report")
	}

	for _, rend := range []string{"video", "audio"} {
		m := media(t, base+"/"+rend+"/index.m3u8")
		for i, s := range m.Segments {
			if s.DateTime == nil {
				t.Errorf("%s segment %d lacks EXT-X-PROGRAM-DATE-TIME", rend, i)
			}
			if len(s.Parts) == 0 {
				continue
			}
			var sum time.Duration
			for _, p := range s.Parts {
				sum += p.Duration
				if p.Duration > m.PartInf.PartTarget+time.Millisecond {
					t.Errorf("%s part %s lasts %v > PART-TARGET", rend, p.URI, p.Duration)
				}
			}
			if d := sum - s.Duration; d > time.Millisecond || d < -time.Millisecond {
				t.Errorf("%s %s: parts sum to %v, EXTINF %v", rend, s.URI, sum, s.Duration)
			}
			if rend == "video" && !s.Parts[0].Independent {
				t.Errorf("%s: first part not INDEPENDENT=YES", s.URI)
			}
			if r := math.Round(s.Duration.Seconds()); int(r) > m.TargetDuration {
				t.Errorf("%s lasts %v > TARGETDURATION %d", s.URI, s.Duration, m.TargetDuration)
			}
			mustGet(t, base+"/"+rend+"/"+s.URI)
			for _, p := range s.Parts {
				mustGet(t, base+"/"+rend+"/"+p.URI)
			}
		}
		for _, p := range m.Parts {
			mustGet(t, base+"/"+rend+"/"+p.URI)
		}
	}

	t.Run("blocking reload", func(t *testing.T) {
		// A poller watches plain playlists to see when each part is complete;
		// the blocking answer for that part must not trail it by more than
		// one part duration + 100 ms. Both clocks are the test's own, so a
		// slow publisher on a loaded machine cannot make the test flaky.
		url := base + "/video/index.m3u8"
		for i := 0; i < 10; i++ {
			m := media(t, url)
			msn, part := nextPart(m)
			seen := make(chan time.Time, 1)
			stop := make(chan struct{})
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					var pm playlist.Media
					if code, b := get(t, url); code == http.StatusOK && pm.Unmarshal(b) == nil && hasPart(&pm, msn, part) {
						seen <- time.Now()
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			got := media(t, fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", url, msn, part))
			answered := time.Now()
			if !hasPart(got, msn, part) {
				t.Fatalf("blocking response for %d.%d does not contain it", msn, part)
			}
			var complete time.Time
			select {
			case complete = <-seen:
			case <-time.After(5 * time.Second):
				t.Fatalf("poller never saw part %d.%d", msn, part)
			}
			close(stop)
			if lag := answered.Sub(complete); lag > m.PartInf.PartTarget+100*time.Millisecond {
				t.Errorf("blocking answer for %d.%d came %v after the part was complete", msn, part, lag)
			}
		}
	})

	t.Run("part readiness", func(t *testing.T) {
		// The goal is p99 ≤ 20 ms; this reports, timing asserts belong to benchmarks.
		p99, count := histogramQuantile(t, string(mustGet(t, n.HTTP+"/metrics")), "livecdn_origin_part_ready_seconds", 0.99)
		if count == 0 {
			t.Fatal("livecdn_origin_part_ready_seconds has no samples")
		}
		t.Logf("livecdn_origin_part_ready_seconds p99 ≤ %gs over %d parts", p99, count)
	})

	t.Run("too far ahead", func(t *testing.T) {
		m := media(t, base+"/video/index.m3u8")
		last := m.MediaSequence + len(m.Segments)
		code, body := get(t, fmt.Sprintf("%s/video/index.m3u8?_HLS_msn=%d", base, last+3))
		if code != http.StatusBadRequest {
			t.Errorf("msn last+3: %d %s", code, body)
		}
		for _, q := range []string{"_HLS_part=1", "_HLS_msn=-1", "_HLS_msn=01", "_HLS_msn=x", "_HLS_skip=MAYBE"} {
			if code, _ := get(t, base+"/video/index.m3u8?"+q); code != http.StatusBadRequest {
				t.Errorf("%s: %d, want 400", q, code)
			}
		}
	})

	t.Run("delta update", func(t *testing.T) {
		full := mustGet(t, base+"/video/index.m3u8")
		var fm playlist.Media
		if err := fm.Unmarshal(full); err != nil {
			t.Fatal(err)
		}
		// Ask for the delta of the same state: block on the part the full one ends with.
		msn, part := lastPart(&fm)
		dm := media(t, fmt.Sprintf("%s/video/index.m3u8?_HLS_msn=%d&_HLS_part=%d&_HLS_skip=YES", base, msn, part))
		if dm.Skip == nil || dm.Skip.SkippedSegments == 0 {
			t.Fatalf("delta playlist has no EXT-X-SKIP")
		}
		skipped := dm.Skip.SkippedSegments
		if dm.MediaSequence != fm.MediaSequence && dm.MediaSequence > fm.MediaSequence+len(fm.Segments) {
			t.Fatalf("delta MSN %d vs full %d", dm.MediaSequence, fm.MediaSequence)
		}
		// The first listed segment of the delta is the one after the skipped ones.
		want := dm.MediaSequence + skipped
		if got := strings.TrimSuffix(strings.TrimPrefix(dm.Segments[0].URI, "seg"), ".m4s"); got != fmt.Sprint(want) {
			t.Errorf("delta lists %s first, want seg%d.m4s", dm.Segments[0].URI, want)
		}
		var kept time.Duration
		for _, s := range dm.Segments {
			kept += s.Duration
		}
		if kept < *fm.ServerControl.CanSkipUntil-time.Duration(fm.TargetDuration)*time.Second {
			t.Errorf("delta keeps only %v of segments, CAN-SKIP-UNTIL %v", kept, *fm.ServerControl.CanSkipUntil)
		}
	})
}

// nextPart returns the part after the newest one in m.
func nextPart(m *playlist.Media) (int64, int) {
	msn, part := lastPart(m)
	return msn, part + 1
}

// lastPart returns the newest part of m: a trailing part, or the last part of the last segment.
func lastPart(m *playlist.Media) (int64, int) {
	msn := int64(m.MediaSequence + len(m.Segments))
	if len(m.Parts) > 0 {
		return msn, len(m.Parts) - 1
	}
	last := m.Segments[len(m.Segments)-1]
	return msn - 1, len(last.Parts) - 1
}

func hasPart(m *playlist.Media, msn int64, part int) bool {
	last, lp := lastPart(m)
	return last > msn || (last == msn && lp >= part)
}

// histogramQuantile returns the upper bound of the bucket holding quantile q
// of a Prometheus histogram in exposition text, and the sample count.
func histogramQuantile(t *testing.T, text, name string, q float64) (float64, int) {
	t.Helper()
	type bucket struct {
		le    float64
		count int
	}
	var bs []bucket
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"_bucket{le=\"") {
			continue
		}
		var le string
		var c int
		rest := strings.TrimPrefix(line, name+"_bucket{le=\"")
		le, cnt, _ := strings.Cut(rest, "\"} ")
		fmt.Sscan(cnt, &c)
		v := math.Inf(1)
		if le != "+Inf" {
			fmt.Sscan(le, &v)
		}
		bs = append(bs, bucket{v, c})
	}
	if len(bs) == 0 {
		return 0, 0
	}
	total := bs[len(bs)-1].count
	for _, b := range bs {
		if float64(b.count) >= q*float64(total) {
			return b.le, total
		}
	}
	return math.Inf(1), total
}
