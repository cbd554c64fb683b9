package ingest

import (
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// Codec is the codec of a track with its parameters (SPS/PPS, AudioSpecificConfig, …).
// It reuses mediacommon's MP4 codec descriptions because they are exactly what
// a CMAF init section needs, so no translation layer sits between ingest and packager.
type Codec = codecs.Codec

// Track is one elementary stream of a published stream.
type Track struct {
	// Codec holds the codec and its complete parameters; protocol servers wait
	// for in-band parameters before they start a stream.
	Codec Codec
	// ClockRate is the tick rate of Unit timestamps: 90000 for video, the sample
	// rate for audio (48000 for Opus).
	ClockRate int
	// Name optionally names the rendition the track becomes (the transcoder
	// names its rungs); protocol servers leave it empty.
	Name string
}

// IsVideo reports whether the track carries video.
func (t *Track) IsVideo() bool { return t.Codec.IsVideo() }

// Unit is one access unit: a video frame or an audio frame.
type Unit struct {
	// Track is the index of the unit's track in Stream.Tracks.
	Track int
	// PTS and DTS are in the track's ClockRate ticks on the publisher's clock.
	// They never wrap: protocol servers unwrap 32-bit and 33-bit timestamps.
	PTS, DTS int64
	// Key marks a random access point (an IDR frame; every audio frame).
	Key bool
	// Data is the payload: for H.264/H.265 the NAL units without start codes or
	// length prefixes; for audio one element holding one frame.
	Data [][]byte
	// Received is when the unit arrived; the packager measures part latency from it.
	Received time.Time
}

// Size returns the payload size in bytes.
func (u *Unit) Size() int {
	n := 0
	for _, d := range u.Data {
		n += len(d)
	}
	return n
}

// Stream describes a published stream once its tracks are known.
type Stream struct {
	// Name is the validated stream name (the {stream} in /live/{stream}/).
	Name string
	// Protocol is "rtmp", "rtsp", "srt" or "file".
	Protocol string
	// Remote is the publisher's address.
	Remote string
	// Tracks lists the elementary streams; Unit.Track indexes it.
	Tracks []*Track
	// Started is when the publisher was accepted.
	Started time.Time
}

// Sink receives the units of one publish session.
type Sink interface {
	// WriteUnit hands over one access unit. Units of one track arrive in
	// decode order; the sink must not keep u.Data beyond the call unless it
	// owns it (protocol servers allocate fresh buffers per unit, so it may).
	WriteUnit(u *Unit) error
	// Close ends the session: the publisher left, was kicked, or the server stops.
	Close()
}

// Handler consumes published streams; the origin (possibly behind a transcoder)
// implements it.
type Handler interface {
	// Publish starts a session for s and returns where its units go, or an
	// error to refuse the stream (the protocol server closes the connection).
	Publish(s *Stream) (Sink, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(s *Stream) (Sink, error)

// Publish implements Handler.
func (f HandlerFunc) Publish(s *Stream) (Sink, error) { return f(s) }
