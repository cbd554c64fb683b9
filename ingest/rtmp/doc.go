// Package rtmp is the RTMP publish server of the ingest tier: OBS, ffmpeg and
// hardware encoders push to rtmp://host:1935/live/{stream}[?key=…].
//
// The wire protocol (handshake, chunking, AMF commands, classic and enhanced
// RTMP codecs) is gortmplib's; this package adds what a CDN ingest needs
// around it: the publish path and key are checked through an ingest.Hub
// before any media is read, tracks are translated into ingest.Tracks, and
// frames become ingest.Units with timestamps in the track's clock rate.
//
// The server only ingests. Play requests are refused: viewers are served
// HLS/DASH by the origin and the edges, never RTMP.
package rtmp
