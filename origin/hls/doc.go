// Package hls writes HLS multivariant playlists and LL-HLS media playlists
// (RFC 8216 and its successor draft) from snapshots of live renditions, with
// gohlslib's playlist types, which unlike grafov/m3u8 keep every LL-HLS tag.
package hls
