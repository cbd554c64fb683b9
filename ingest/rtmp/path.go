package rtmp

import (
	"net/url"
	"strings"
)

// publishPath rebuilds "live/{stream}[?query]" for ingest.ParsePublishPath
// from the URL gortmplib hands over.
//
// RTMP splits the address in two: connect carries the tcUrl
// ("rtmp://host/live", the "server" field in OBS) and publish carries the
// stream key ("test", or "test?key=s3cret"). gortmplib joins them as
// tcUrl + "/" + streamKey before parsing, and only that joined URL is public.
// When the key sits in the stream key the result is the plain
// "/live/test?key=s3cret". When the publisher put the query into the server
// URL ("rtmp://host/live?key=s3cret" + "test") the join yields path "/live"
// and query "key=s3cret/test", so the name has to be taken back out of the
// query: it is what follows the last "/" before any second "?" (a stream name
// never holds "/" or "?"; a key may hold "/").
func publishPath(u *url.URL) string {
	if u == nil {
		return ""
	}
	p, q := u.Path, u.RawQuery
	if u.Fragment != "" {
		// A "#" in a stream key is data, not a fragment; put it back where
		// it was so a key or name containing it is judged whole.
		frag := "#" + u.EscapedFragment()
		if q != "" || u.ForceQuery {
			q += frag
		} else {
			p += frag
		}
	}
	// Encoders configured with a trailing slash ("rtmp://host/live/") join
	// to "/live//test"; that is still the obvious stream.
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	p = strings.Trim(p, "/")
	if !strings.Contains(p, "/") {
		head, more, hasMore := strings.Cut(q, "?")
		if i := strings.LastIndexByte(head, '/'); i >= 0 {
			p += "/" + head[i+1:]
			q = head[:i]
			if hasMore {
				q = joinQuery(q, more)
			}
		}
	}
	if q == "" {
		return p
	}
	return p + "?" + q
}

func joinQuery(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	default:
		return a + "&" + b
	}
}
