// Package dash writes the dynamic DASH MPD (ISO/IEC 23009-1) of a live
// stream from the same CMAF media the HLS playlists name: SegmentTemplate
// with $Number$ and a SegmentTimeline, one Period per publish session, and
// the low-latency fields of the DASH-IF guidelines (availabilityTimeOffset,
// ServiceDescription).
package dash

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/Eyevinn/dash-mpd/mpd"

	"github.com/livecdn/livecdn/origin/hls"
	"github.com/livecdn/livecdn/origin/live"
)

// Config holds the timing the MPD announces.
type Config struct {
	PartTarget    time.Duration
	SegmentTarget time.Duration
	// TimeURL is the absolute URL of the origin's ISO time endpoint for UTCTiming.
	TimeURL string
}

// MPD writes the MPD of a stream at now. created is availabilityStartTime.
func MPD(created, now time.Time, rends []live.Snapshot, cfg Config) ([]byte, error) {
	m := &mpd.MPD{
		XMLNs:                 "urn:mpeg:dash:schema:mpd:2011",
		Profiles:              "urn:mpeg:dash:profile:isoff-live:2011,http://dashif.org/guidelines/dash-if-simple",
		Type:                  mpd.Ptr("dynamic"),
		AvailabilityStartTime: dateTime(created),
		PublishTime:           dateTime(now),
		MinimumUpdatePeriod:   dur(cfg.SegmentTarget / 2),
		MinBufferTime:         dur(cfg.SegmentTarget / 2),
		MaxSegmentDuration:    dur(cfg.SegmentTarget * 2),
	}
	target := cfg.SegmentTarget + 3*cfg.PartTarget
	m.ServiceDescription = []*mpd.ServiceDescriptionType{{Id: 0, Latencies: []*mpd.LatencyType{{
		ReferenceId: 0,
		Target:      mpd.Ptr(uint32(target.Milliseconds())),
		Min:         mpd.Ptr(uint32((target / 2).Milliseconds())),
		Max:         mpd.Ptr(uint32((3 * target).Milliseconds())),
	}}}}
	if cfg.TimeURL != "" {
		m.UTCTimings = append(m.UTCTimings, &mpd.DescriptorType{SchemeIdUri: "urn:mpeg:dash:utc:http-iso:2014", Value: cfg.TimeURL})
	}
	m.UTCTimings = append(m.UTCTimings, &mpd.DescriptorType{
		SchemeIdUri: "urn:mpeg:dash:utc:direct:2014", Value: now.UTC().Format("2006-01-02T15:04:05.000Z")})

	var depth time.Duration
	for _, session := range sessions(rends) {
		p, d := period(created, session, rends, cfg)
		if p != nil {
			m.Periods = append(m.Periods, p)
			depth = max(depth, d)
		}
	}
	if len(m.Periods) == 0 {
		return nil, fmt.Errorf("stream has no complete segment yet")
	}
	m.TimeShiftBufferDepth = dur(depth)
	var b strings.Builder
	if _, err := m.Write(&b, "  ", true); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// sessions lists the publish sessions with complete segments, oldest first.
func sessions(rends []live.Snapshot) []int {
	seen := map[int]bool{}
	for _, r := range rends {
		for _, s := range r.Segments {
			if s.Complete {
				seen[s.Session] = true
			}
		}
	}
	out := make([]int, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Ints(out)
	return out
}

// period builds the Period of one session; it also returns how much media
// (seconds of the window) the period's longest timeline covers.
func period(created time.Time, session int, rends []live.Snapshot, cfg Config) (*mpd.Period, time.Duration) {
	p := &mpd.Period{Id: fmt.Sprintf("p%d", session)}
	var video, audio *mpd.AdaptationSetType
	var covered time.Duration
	for _, r := range rends {
		var segs []live.Segment
		for _, s := range r.Segments {
			if s.Session == session && s.Complete {
				segs = append(segs, s)
			}
		}
		if len(segs) == 0 || r.Info.Codec == "" {
			continue
		}
		if p.Start == nil {
			zero := segs[0].PDT.Add(-live.Dur(segs[0].Start, r.Timescale))
			p.Start = dur(max(zero.Sub(created), 0))
		}
		var total int64
		for _, s := range segs {
			total += s.Duration
		}
		covered = max(covered, live.Dur(total, r.Timescale))
		peak, _ := hls.Bandwidth(r)
		rep := &mpd.RepresentationType{Id: r.Name, Bandwidth: uint32(peak)}
		rep.Codecs = r.Info.Codec
		rep.SegmentTemplate = template(r, session, segs, cfg)
		if r.Video {
			if video == nil {
				video = adaptationSet(0, "video", "video/mp4")
				video.SegmentAlignment = true
				video.StartWithSAP = 1
			}
			rep.Width, rep.Height = uint32(r.Info.Width), uint32(r.Info.Height)
			if r.Info.FPS > 0 {
				rep.FrameRate = mpd.FrameRateType(frameRate(r.Info.FPS))
			}
			video.Representations = append(video.Representations, rep)
		} else if audio == nil {
			audio = adaptationSet(1, "audio", "audio/mp4")
			audio.SegmentAlignment = true
			audio.StartWithSAP = 1
			rate := mpd.UIntVectorType(fmt.Sprint(r.Info.SampleRate))
			rep.AudioSamplingRate = &rate
			if r.Info.Channels > 0 {
				rep.AudioChannelConfigurations = []*mpd.DescriptorType{{
					SchemeIdUri: "urn:mpeg:dash:23003:3:audio_channel_configuration:2011", Value: fmt.Sprint(r.Info.Channels)}}
			}
			audio.Representations = append(audio.Representations, rep)
		}
	}
	for _, as := range []*mpd.AdaptationSetType{video, audio} {
		if as != nil {
			p.AdaptationSets = append(p.AdaptationSets, as)
		}
	}
	if len(p.AdaptationSets) == 0 {
		return nil, 0
	}
	return p, covered
}

func adaptationSet(id uint32, contentType, mime string) *mpd.AdaptationSetType {
	as := &mpd.AdaptationSetType{Id: mpd.Ptr(id), ContentType: mpd.RFC6838ContentTypeType(contentType)}
	as.MimeType = mime
	return as
}

func template(r live.Snapshot, session int, segs []live.Segment, cfg Config) *mpd.SegmentTemplateType {
	t := &mpd.SegmentTemplateType{
		Media:          r.Name + "/seg$Number$.m4s",
		Initialization: r.Name + "/" + live.InitName(session),
	}
	t.Timescale = mpd.Ptr(uint32(r.Timescale))
	t.StartNumber = mpd.Ptr(uint32(segs[0].MSN))
	t.PresentationTimeOffset = mpd.Ptr(uint64(0))
	// Low latency: a segment may be requested once its first part exists; the
	// origin then sends it chunked as the parts arrive.
	if ato := cfg.SegmentTarget - cfg.PartTarget; ato > 0 {
		t.AvailabilityTimeOffset = mpd.FloatInf64(ato.Seconds())
		t.AvailabilityTimeComplete = mpd.Ptr(false)
	}
	tl := &mpd.SegmentTimelineType{}
	for i, s := range segs {
		// MSNs and times are contiguous within a session; T restates the time
		// only at the start, and equal durations fold into a repeat count.
		contiguous := i > 0 && segs[i-1].Start+segs[i-1].Duration == s.Start
		if contiguous && tl.S[len(tl.S)-1].D == uint64(s.Duration) {
			tl.S[len(tl.S)-1].R++
			continue
		}
		st := &mpd.S{D: uint64(s.Duration)}
		if !contiguous {
			st.T = mpd.Ptr(uint64(s.Start))
		}
		tl.S = append(tl.S, st)
	}
	t.SegmentTimeline = tl
	return t
}

func frameRate(fps float64) string {
	if r := int(fps + 0.5); fps-float64(r) < 0.001 && float64(r)-fps < 0.001 {
		return fmt.Sprint(r)
	}
	return fmt.Sprintf("%d/1001", int(fps*1001+0.5))
}

func dur(d time.Duration) *mpd.Duration {
	v := mpd.Duration(d)
	return &v
}

func dateTime(t time.Time) mpd.DateTime {
	return mpd.DateTime(t.UTC().Format("2006-01-02T15:04:05.000Z"))
}
