// Package ingest accepts live streams from publishers and hands them on as one
// protocol-neutral Stream of access units.
//
// The protocol servers live in subpackages (rtmp, rtsp, srt); each of them
// authorizes a publisher through a Hub before it accepts any media, then
// describes the tracks and writes Units. Whatever consumes streams (the
// transcoder, the origin packager) implements Handler and never learns which
// protocol a stream arrived over.
package ingest
