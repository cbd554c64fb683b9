// Package edge is the cache node viewers hit: a fasthttp server in front of
// any HLS/DASH upstream that caches live segments by the rules of package
// rules, makes one upstream request per object however many viewers miss at
// once (coalesce), holds LL-HLS blocking playlist requests on one follower
// per rendition (follow), fetches what playlists announce before viewers ask
// (prefetch), and checks viewer tokens (token). It speaks HTTP only to its
// upstream and imports nothing from the origin.
package edge
