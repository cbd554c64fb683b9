// Package token signs and checks viewer URLs, and rewrites HLS playlists
// and DASH MPDs so that every URL a player follows from them carries the
// viewer's token.
//
// # Token format
//
// A token is two query parameters, exp and sig:
//
//	/live/cam1/index.m3u8?exp=1735689600&sig=<43 characters>
//
// exp is the expiry in Unix seconds (canonical decimal, no sign, no leading
// zeros). sig is the unpadded base64url encoding of
//
//	HMAC-SHA256(key, prefix + "\n" + exp)
//
// where prefix is the stream's directory, "/live/{stream}/" or
// "/replay/{stream}/", derived from the request path. One token therefore
// opens every object of one stream (playlists, init sections, segments,
// parts) until it expires, and nothing else: not another stream, not the
// same stream's replay (a separate prefix), not a path outside the prefix.
// Paths with "." or ".." segments, empty segments, percent escapes,
// backslashes or control bytes are refused outright, so the path a token
// is checked against is the path the upstream serves.
//
// # Cache keys
//
// The edge caches one copy for all viewers: StripQuery removes exp and sig
// from a query (keeping every other parameter in order) before the query
// reaches a cache key or the upstream. The edge then re-adds the viewer's
// token, obtained with Query, to the playlists it sends back, with
// RewriteHLS and RewriteMPD.
//
// # Rewrite rules
//
// A URI gets the token when it is a relative reference ("seg5.m4s",
// "../audio/index.m3u8") or an absolute path ("/live/cam1/720p/seg5.m4s").
// URIs with a scheme ("https://other/x", "skd://key", "data:…") and
// network-path references ("//host/x", or "/\host/x", which browsers read
// the same way) are left alone: they point at another server, which must
// not learn the token and could not check it.
// The token goes before any fragment; an existing query is kept and joined
// with "&"; exp and sig already in the URI are replaced, so rewriting twice
// gives the same bytes as rewriting once.
//
// In HLS playlists the URIs are the URI lines (segments, variant streams)
// and every quoted URI="…" attribute of every tag (EXT-X-MAP, EXT-X-PART,
// EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, EXT-X-MEDIA,
// EXT-X-I-FRAME-STREAM-INF, EXT-X-KEY, …). Everything else, comments, other
// attributes, blank lines and line endings (LF or CRLF) included, is copied
// byte for byte.
//
// In DASH MPDs the URIs are the media, initialization and index attributes
// of SegmentTemplate ("720p/seg$Number$.m4s" becomes
// "720p/seg$Number$.m4s?exp=…&amp;sig=…": the template identifiers stay in
// the path), media and index of SegmentURL, sourceURL of Initialization and
// RepresentationIndex, and the text of BaseURL, Location and PatchLocation.
// A BaseURL that ends in "/" names a directory that only serves to resolve
// other URLs, whose own query replaces it, so it is left alone. Values are
// written back XML-escaped ("&" as "&amp;"); the rest of the document is
// copied byte for byte, and a document the XML decoder rejects is rewritten
// only up to the point of the error.
package token
