// Package rules holds the edge's live-aware cache rules (DESIGN.md "Cache
// rules"): which requests are immutable media, which are playlists, what the
// cache key of a request is, and how long a response stays fresh.
package rules

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind tells how an object is cached.
type Kind int

// The kinds of objects.
const (
	// Other is anything unknown: cached only as the upstream's headers allow.
	Other Kind = iota
	// Media is an init section, segment or part: immutable, cached by path alone.
	Media
	// Playlist is an HLS playlist: short-lived, keyed with the LL-HLS parameters.
	Playlist
	// MPD is a DASH manifest: short-lived.
	MPD
)

// Classify returns the kind of a request path from its extension.
func Classify(p string) Kind {
	switch strings.ToLower(path.Ext(p)) {
	case ".m4s", ".mp4", ".m4a", ".m4v", ".cmfv", ".cmfa", ".ts", ".aac", ".vtt", ".webvtt", ".key":
		return Media
	case ".m3u8":
		return Playlist
	case ".mpd":
		return MPD
	}
	return Other
}

// LLHLSParams are the query parameters that change a playlist response and so
// belong to its cache key.
var LLHLSParams = []string{"_HLS_msn", "_HLS_part", "_HLS_skip"}

// ReplayParams are the query parameters that choose the range of a replay
// playlist or MPD (/replay/…) or a clip (/api/clip/…): without them in the
// key, every range of a stream would share one cache entry.
var ReplayParams = []string{"from", "rendition", "to"}

// rangeKeyed reports whether a path's response depends on ReplayParams:
// replay playlists and MPDs and clips do; archived media (immutable, named
// by sequence number) does not.
func rangeKeyed(p string) bool {
	switch {
	case strings.HasPrefix(p, "/api/clip/"):
		return true
	case strings.HasPrefix(p, "/replay/"):
		k := Classify(p)
		return k == Playlist || k == MPD
	}
	return false
}

// MaxPath bounds request paths; nothing we serve has a longer name.
const MaxPath = 2048

// ErrBadPath is returned for paths the edge refuses to pass upstream.
var ErrBadPath = errors.New("bad path")

// CheckPath refuses what could mean two things to two servers: dot segments,
// encoded dots, slashes or backslashes, control bytes, empty segments and
// over-long paths. It works on the escaped path as received.
func CheckPath(escaped string) error {
	if escaped == "" || escaped[0] != '/' {
		return ErrBadPath
	}
	if len(escaped) > MaxPath {
		return errPathTooLong
	}
	// One pass, no allocation: this runs on every request.
	segStart := 1
	for i := 0; i < len(escaped); i++ {
		switch c := escaped[i]; {
		case c < 0x21 || c == 0x7f || c == '\\':
			return errControl
		case c == '%':
			if i+2 >= len(escaped) || !ishex(escaped[i+1]) || !ishex(escaped[i+2]) {
				return errBadEscape
			}
			switch h := unhex(escaped[i+1])<<4 | unhex(escaped[i+2]); h {
			case '.', '/', '\\', 0:
				return errEncoded
			}
		case c == '/' && i > 0:
			if seg := escaped[segStart:i]; seg == "" {
				return errDotSegment // "//": two spellings of one path
			} else if err := checkSegment(seg); err != nil {
				return err
			}
			segStart = i + 1
		}
	}
	return checkSegment(escaped[segStart:])
}

var (
	errPathTooLong = errors.Join(ErrBadPath, errors.New("path too long"))
	errControl     = errors.Join(ErrBadPath, errors.New("control byte or backslash"))
	errBadEscape   = errors.Join(ErrBadPath, errors.New("malformed percent-escape"))
	errEncoded     = errors.Join(ErrBadPath, errors.New("encoded dot, slash, backslash or NUL"))
	errDotSegment  = errors.Join(ErrBadPath, errors.New("empty or dot segment"))
)

// checkSegment refuses "." and ".." as path segments.
func checkSegment(seg string) error {
	if seg == "." || seg == ".." {
		return errDotSegment
	}
	return nil
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// Key builds the cache key of a request: the path, plus for playlists the
// LL-HLS parameters, plus any parameter named in keep, in a fixed order so
// that "?b=1&a=2" and "?a=2&b=1" share one entry. Everything else in the query
// (tracking, tokens, cache busters) is dropped: one cached copy for all.
func Key(escapedPath, rawQuery string, keep []string) string {
	if rawQuery == "" {
		return escapedPath
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return escapedPath
	}
	var names []string
	if Classify(escapedPath) == Playlist {
		names = append(names, LLHLSParams...)
	}
	if rangeKeyed(escapedPath) {
		names = append(names, ReplayParams...)
	}
	names = append(names, keep...)
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(escapedPath)
	sep := byte('?')
	last := ""
	for _, n := range names {
		if n == last {
			continue
		}
		last = n
		for _, v := range q[n] {
			b.WriteByte(sep)
			sep = '&'
			b.WriteString(url.QueryEscape(n))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
		}
	}
	return b.String()
}

// UpstreamQuery is the query the upstream sees: the same parameters as the key.
func UpstreamQuery(escapedPath, rawQuery string, keep []string) string {
	k := Key(escapedPath, rawQuery, keep)
	if i := strings.IndexByte(k, '?'); i >= 0 {
		return k[i+1:]
	}
	return ""
}

// Policy holds the TTLs the rules fall back on.
type Policy struct {
	// NotFound is how long a 404 is cached: briefly, because a 404 for a part
	// the playlist will name in a moment must not outlive that moment.
	NotFound time.Duration
	// StaleIfError is how long an expired playlist may still be served while
	// the upstream fails.
	StaleIfError time.Duration
	// PlaylistDefault is the TTL of a playlist that names no target duration.
	PlaylistDefault time.Duration
}

// DefaultPolicy returns the defaults: 404s for 100 ms, stale playlists for 6 s.
func DefaultPolicy() Policy {
	return Policy{NotFound: 100 * time.Millisecond, StaleIfError: 6 * time.Second, PlaylistDefault: time.Second}
}

// Freshness decides whether a response is cached and for how long: ok false
// means not cached; ttl 0 with ok means cached forever (immutable).
func (p Policy) Freshness(kind Kind, status int, h http.Header, body []byte) (ttl time.Duration, ok bool) {
	cc := parseCacheControl(h.Get("Cache-Control"))
	if cc.noStore || cc.private {
		return 0, false
	}
	switch {
	case status >= 500:
		return 0, false // never cache upstream failures
	case status == http.StatusNotFound:
		return p.NotFound, true
	case status != http.StatusOK:
		return 0, false
	}
	if kind == Media && (cc.immutable || cc.maxAge < 0 || cc.maxAge > 60) {
		return 0, true
	}
	if cc.noCache {
		return 0, false
	}
	if cc.maxAge >= 0 {
		if cc.maxAge == 0 {
			return 0, false
		}
		return time.Duration(cc.maxAge) * time.Second, true
	}
	switch kind {
	case Playlist:
		return PlaylistTTL(body, p.PlaylistDefault), true
	case MPD:
		return p.PlaylistDefault / 2, true
	}
	return 0, false
}

// PlaylistTTL derives a playlist's freshness from its own tags: half a part
// for LL-HLS (the playlist changes every part), half a target duration otherwise.
func PlaylistTTL(body []byte, fallback time.Duration) time.Duration {
	if v, ok := tagValue(body, "#EXT-X-PART-INF:PART-TARGET="); ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 {
			return time.Duration(f * float64(time.Second) / 2)
		}
	}
	if v, ok := tagValue(body, "#EXT-X-TARGETDURATION:"); ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return time.Duration(n) * time.Second / 2
		}
	}
	return fallback
}

func tagValue(body []byte, prefix string) (string, bool) {
	i := bytes.Index(body, []byte(prefix))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(prefix):]
	if j := bytes.IndexAny(rest, ",\r\n"); j >= 0 {
		rest = rest[:j]
	}
	return string(rest), true
}

type cacheControl struct {
	maxAge                               int // -1 when absent
	noStore, noCache, private, immutable bool
}

func parseCacheControl(v string) cacheControl {
	cc := cacheControl{maxAge: -1}
	sMaxAge := -1
	for _, d := range strings.Split(v, ",") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store":
			cc.noStore = true
		case "no-cache":
			cc.noCache = true
		case "private":
			cc.private = true
		case "immutable":
			cc.immutable = true
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				cc.maxAge = n
			}
		case "s-maxage":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				sMaxAge = n
			}
		}
	}
	if sMaxAge >= 0 { // a shared cache obeys s-maxage over max-age
		cc.maxAge = sMaxAge
	}
	return cc
}
