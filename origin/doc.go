// Package origin is the live origin: it receives published streams from
// ingest (directly or through the transcoder), packages them into CMAF with
// cmaf, keeps the live window in live, and serves HLS, LL-HLS and DASH over
// HTTP with the cache headers a CDN in front of it relies on.
package origin
