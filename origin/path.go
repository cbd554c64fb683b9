package origin

import (
	"errors"
	"strings"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin/live"
)

// maxPath bounds request paths; longer ones cannot name anything we serve.
const maxPath = 512

var errBadPath = errors.New("bad path")

// route is a parsed /live/ path.
type route struct {
	stream    string
	rendition string // empty for stream-level objects
	file      string // index.m3u8, manifest.mpd or an object name
}

// parseLivePath parses the escaped path of a /live/ request. It refuses
// rather than cleans: "..", empty or encoded separators, control bytes and
// over-long names never reach a lookup, so there is exactly one spelling of
// every URL (which is also what keeps CDN cache keys unambiguous).
func parseLivePath(escaped string) (route, error) { return parsePath("/live/", escaped) }

// parsePath parses a path below prefix (/live/ or /replay/) the same way.
func parsePath(prefix, escaped string) (route, error) {
	if len(escaped) > maxPath {
		return route{}, errors.Join(errBadPath, errors.New("path too long"))
	}
	if strings.Contains(escaped, "%") {
		return route{}, errors.Join(errBadPath, errors.New("escaped characters are not allowed"))
	}
	rest, ok := strings.CutPrefix(escaped, prefix)
	if !ok {
		return route{}, errBadPath
	}
	parts := strings.Split(rest, "/")
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return route{}, errors.Join(errBadPath, errors.New("empty or dot segment"))
		}
		for i := 0; i < len(p); i++ {
			if p[i] < 0x21 || p[i] == 0x7f || p[i] == '\\' {
				return route{}, errors.Join(errBadPath, errors.New("control or special byte"))
			}
		}
	}
	if !ingest.ValidName(parts[0]) {
		return route{}, errors.Join(errBadPath, ingest.ErrBadName)
	}
	switch len(parts) {
	case 2:
		if parts[1] != "index.m3u8" && parts[1] != "manifest.mpd" {
			return route{}, errors.Join(errBadPath, errors.New("unknown stream object"))
		}
		return route{stream: parts[0], file: parts[1]}, nil
	case 3:
		if !ingest.ValidName(parts[1]) {
			return route{}, errors.Join(errBadPath, errors.New("bad rendition name"))
		}
		if _, ok := live.ParseObject(parts[2]); !ok {
			return route{}, errors.Join(errBadPath, errors.New("unknown object name"))
		}
		return route{stream: parts[0], rendition: parts[1], file: parts[2]}, nil
	}
	return route{}, errors.Join(errBadPath, errors.New("wrong depth"))
}
