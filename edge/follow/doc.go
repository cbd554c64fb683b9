// Package follow holds LL-HLS blocking playlist reloads at the edge.
//
// A viewer of a Low-Latency HLS stream asks for the media playlist with
// _HLS_msn=M&_HLS_part=P (rfc8216bis 6.2.5.2) and expects the answer as soon
// as part P of segment M exists. Passing each of those requests upstream
// would cost the origin one held request per viewer per part. Instead the
// edge keeps one Follower per active media playlist path: a single loop that
// always has one blocking request outstanding upstream for the part after
// the newest one it knows, and that wakes every viewer waiting for that part
// when the playlist arrives. 10,000 viewers of a rendition cost one upstream
// request per part.
//
// The Registry starts a Follower on first use (Get), stops it when no viewer
// has asked for Idle, and stops all of them on Close. Wait applies the
// server rules of the spec at the edge: a request more than two segments
// ahead of the playlist is refused at once (ErrTooFar, answer 400) and one
// held longer than three target durations ends with ErrTimeout (answer 503).
// A stream the upstream no longer knows (repeated 4xx) ends with ErrGone.
//
// Metrics are prometheus collectors passed in Config.Metrics (NewMetrics),
// nil for none.
package follow
