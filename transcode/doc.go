// Package transcode is the ABR ladder between ingest and the origin: an
// ingest.Handler that turns each published stream into keyframe-aligned
// renditions with one supervised ffmpeg per stream.
//
// # Pipeline
//
// The source video (and Opus audio, which must become AAC) goes to ffmpeg's
// stdin as MPEG-TS; each transcoded rung comes back as fragmented MP4 with
// one fragment per frame on its own inherited pipe (fd 3, 4, …) and is
// demuxed into access units again. The origin receives one stream whose
// tracks are, in order: the source video as the passthrough rung (when the
// ladder has one), one H.264 track per transcoded rung named after it, and
// the audio rendition (AAC passed through untouched, or ffmpeg's AAC).
// Rungs taller than the source are dropped; when only the passthrough rung
// is left, the stream is passed through without ffmpeg. The rungs trail the
// source by ffmpeg's latency (about 0.6 s with the libx264 defaults here:
// lookahead and frame threads; "-tune zerolatency" in extra_args cuts it).
//
// # Alignment
//
// The packager cuts segments on the first video track's keyframes and the
// other tracks follow its boundaries, so every rung must have a keyframe
// exactly where the leader has one. ffmpeg forces an IDR on every source
// keyframe (-force_key_frames source, -sc_threshold 0), keeps one output
// frame per input frame (-fps_mode passthrough) and exact 90 kHz timestamps;
// the transcoder maps its output timestamps back onto the publisher's clock
// (the first output frame is the first fed keyframe) and snaps each one onto
// the PTS of the source frame it came from. A keyframe therefore carries the
// same PTS in the source and in every rung. The passthrough rung is the
// first track, so it leads; without one the top rung leads and the source
// audio is held back until that rung has caught up with it.
//
// # Supervision and discontinuities
//
// ffmpeg runs in its own process group. When it exits, produces nothing
// after the first keyframe went in (Config.InitTimeout), or stays slower
// than Config.MinSpeed for Config.SlowFor, the group is killed (SIGTERM,
// SIGKILL after a second) and ffmpeg restarted with exponential backoff.
// Meanwhile the passthrough rung and the audio keep flowing into the current
// session. Once the new ffmpeg has sent its init segments, the session at
// the origin is ended and a new one published on the next source keyframe:
// the whole stream re-publishes, so every rendition (the passthrough one
// included) gets an EXT-X-DISCONTINUITY / a new DASH period at the same
// segment, but the passthrough rung loses no media, because the cut falls on
// a keyframe. Re-publishing the whole stream is the simplest correct way to
// give the rungs a discontinuity: the rungs' timestamps jump and their
// codec parameters may change, and the origin's sessions are per stream.
//
// The origin must keep its session counters (a data directory) for a
// re-publish to become a discontinuity; without one it restarts its
// sequence numbers with every session.
//
// A stream's first session waits (holding the source back, at most
// InitTimeout) until ffmpeg's init segments have arrived, because the codec
// parameters of the rungs are only known from them; if they do not come, the
// source is published alone and the rungs join on the next successful start.
// When ffmpeg is not installed at all the transcoder says so once and passes
// every stream through.
package transcode
