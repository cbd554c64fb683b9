package hls

import "github.com/livecdn/livecdn/origin/live"

// Fallbacks for a rendition with no media yet; players need a positive BANDWIDTH.
const (
	fallbackVideo = 1_000_000
	fallbackAudio = 128_000
)

// Bandwidth measures a rendition's peak and average bitrate in bit/s over the
// segments in its window, as BANDWIDTH and AVERAGE-BANDWIDTH want them.
func Bandwidth(s live.Snapshot) (peak, avg int) {
	var bytes, ticks int64
	for _, seg := range s.Segments {
		if seg.Duration <= 0 || s.Timescale <= 0 {
			continue
		}
		bytes += int64(seg.Size)
		ticks += seg.Duration
		// A short trailing or in-progress segment says little about the peak.
		if seg.Complete && seg.Duration*2 >= s.Timescale {
			peak = max(peak, int(int64(seg.Size)*8*s.Timescale/seg.Duration))
		}
	}
	if ticks > 0 {
		avg = int(bytes * 8 * s.Timescale / ticks)
	}
	if avg == 0 {
		avg = fallbackAudio
		if s.Video {
			avg = fallbackVideo
		}
	}
	peak = max(peak, avg)
	return peak, avg
}
