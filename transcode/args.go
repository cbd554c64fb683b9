package transcode

import (
	"fmt"
	"math"
	"strconv"
)

// pipeline names ffmpeg's input and outputs: the live path uses stdin and
// inherited pipes (pipe:0, pipe:3, …); the benchmark uses files.
type pipeline struct {
	input    string   // "pipe:0" or a file
	outputs  []string // one per rung, then the audio output when audio is re-encoded
	progress string   // "pipe:N", or "" for none
}

// fragFlags makes ffmpeg write one moof+mdat per frame: the packager gets each
// frame as soon as it is encoded (frag_keyframe would hold a whole GOP back).
const fragFlags = "frag_every_frame+empty_moov+default_base_moof"

// ffmpegArgs returns the command line of the one ffmpeg that serves a stream:
// MPEG-TS in, one fragmented MP4 per transcoded rung out (then AAC audio when
// audio needs re-encoding).
//
// Keyframe alignment: -force_key_frames source puts an IDR exactly on every
// source keyframe and -sc_threshold 0 adds none on scene cuts, so each rung's
// keyframes coincide with the passthrough rung's and the packager's segment
// boundaries fall on the same timestamp in every rendition. -fps_mode
// passthrough keeps one output frame per input frame and -enc_time_base -1
// with a 90 kHz track timescale keeps their timestamps exact (the default
// 1/framerate time base would round them). -bf 0: the packager compares
// decode timestamps when followers cut, so a rung's keyframe must not decode
// earlier than the source's (B-frames would move its DTS before its PTS);
// it also saves a frame or two of latency.
func ffmpegArgs(rungs []Rung, audio *Audio, fps float64, p pipeline) []string {
	args := []string{"-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"}
	if p.progress != "" {
		args = append(args, "-progress", p.progress, "-stats_period", "1")
	}
	// Live input from a pipe: probe little (a few frames, enough for the
	// frame rate) so the first frame comes out quickly; the parameter sets
	// sit in front of every keyframe anyway. (-fflags nobuffer would delay
	// the first frame by more than a second here.)
	args = append(args, "-probesize", "32768", "-analyzeduration", "100000",
		"-f", "mpegts", "-i", p.input)
	for i, r := range rungs {
		args = append(args, "-map", "0:v:0", "-an", "-sn", "-dn",
			"-vf", fmt.Sprintf("scale=%d:%d", r.Width, r.Height),
			"-c:v", r.Encoder)
		if r.Preset != "" {
			args = append(args, "-preset", r.Preset)
		}
		if r.Profile != "" {
			args = append(args, "-profile:v", r.Profile)
		}
		args = append(args,
			"-b:v", strconv.FormatInt(r.VideoBitrate, 10),
			"-maxrate", strconv.FormatInt(r.Maxrate, 10),
			"-bufsize", strconv.FormatInt(r.Bufsize, 10),
			"-pix_fmt", "yuv420p", "-bf", "0",
			"-force_key_frames", "source", "-sc_threshold", "0",
			"-fps_mode", "passthrough", "-enc_time_base", "-1", "-video_track_timescale", "90000")
		args = append(args, x264Params(r, fps)...)
		args = append(args, "-f", "mp4", "-movflags", fragFlags, "-flush_packets", "1", p.outputs[i])
	}
	if audio != nil {
		args = append(args, "-map", "0:a:0", "-vn", "-sn", "-dn",
			"-c:a", "aac", "-b:a", strconv.FormatInt(audio.Bitrate, 10), "-ac", "2", "-ar", "48000",
			"-f", "mp4", "-movflags", fragFlags, "-flush_packets", "1", p.outputs[len(rungs)])
	}
	return args
}

// x264Params returns the rung's extra arguments, making sure libx264 gets
// force-cfr=1 and the source's frame rate: with the 90 kHz encoder time base
// x264 would otherwise write 90000 fps into the SPS timing info (the
// playlists' FRAME-RATE comes from there), and ffmpeg's estimate from a
// short probe of millisecond RTMP timestamps is off (29.83). Neither touches
// the timestamps.
func x264Params(r Rung, fps float64) []string {
	extra := append([]string(nil), r.ExtraArgs...)
	if r.Encoder != "libx264" {
		return extra
	}
	params := "force-cfr=1"
	if f := fpsRational(fps); f != "" {
		params += ":fps=" + f
	}
	for i := 0; i+1 < len(extra); i++ {
		if extra[i] == "-x264-params" || extra[i] == "-x264-params:v" {
			extra[i+1] += ":" + params
			return extra
		}
	}
	return append(extra, "-x264-params", params)
}

// fpsRational spells a frame rate for x264: "30", "30000/1001", or "" when unknown.
func fpsRational(fps float64) string {
	if fps <= 0 || fps > 1000 {
		return ""
	}
	if n := math.Round(fps); math.Abs(fps-n) < 0.001 {
		return strconv.Itoa(int(n))
	}
	if n := math.Round(fps * 1.001); math.Abs(fps-n/1.001) < 0.001 {
		return fmt.Sprintf("%d/1001", int(n)*1000)
	}
	return strconv.FormatFloat(fps, 'f', 3, 64)
}
