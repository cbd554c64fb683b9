// Package player is the viewer emulator of `livecdn bench`: each Viewer
// behaves like hls.js or dash.js would against a live stream — it reads the
// multivariant playlist (or MPD), picks a rendition (fixed, or by measured
// throughput), follows the media playlist the way LL-HLS clients do
// (blocking reloads with _HLS_msn/_HLS_part, delta updates with _HLS_skip),
// fetches parts or segments in order into a buffer model, and counts stalls,
// startup time, live latency (EXT-X-PROGRAM-DATE-TIME against the wall
// clock), bytes and errors into shared Stats.
//
// Many thousands of viewers run in one process: a goroutine each, one shared
// HTTP/1.1 client of its own (Client: pooled keep-alive connections spread
// over 127.0.0.0/8 source addresses, so no ephemeral-port exhaustion; a
// waiting viewer holds its connection and a 4 KiB stack, nothing else), and
// a shared cache of parsed playlists, since thousands of viewers receive
// byte-identical bodies.
package player
