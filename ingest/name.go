package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// MaxNameLen bounds stream names so that paths, metric labels and file names stay sane.
const MaxNameLen = 64

// ErrBadName is returned for stream names that are not safe to use in URLs and paths.
var ErrBadName = errors.New("invalid stream name")

// ValidName reports whether name may be used as a stream name: 1 to
// MaxNameLen characters from [A-Za-z0-9_-]. Dots, slashes and anything that
// needs escaping are refused so a name can never climb out of a directory or URL.
func ValidName(name string) bool {
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ParsePublishPath parses the path a publisher asks for, "live/{stream}" with an
// optional leading slash and an optional "?key=…" query, as every protocol
// uses it (RTMP app+stream, RTSP path, SRT streamid resource).
func ParsePublishPath(p string) (name, key string, err error) {
	p, rawQuery, _ := strings.Cut(p, "?")
	p = strings.TrimPrefix(p, "/")
	app, name, ok := strings.Cut(p, "/")
	if !ok || app != "live" {
		return "", "", fmt.Errorf("%w: path %q is not live/{stream}", ErrBadName, trunc(p))
	}
	if !ValidName(name) {
		return "", "", fmt.Errorf("%w: %q (use 1-%d of A-Z a-z 0-9 _ -)", ErrBadName, trunc(name), MaxNameLen)
	}
	if rawQuery != "" {
		q, qerr := url.ParseQuery(rawQuery)
		if qerr != nil {
			return "", "", fmt.Errorf("bad query in publish path: %w", qerr)
		}
		key = q.Get("key")
	}
	return name, key, nil
}

// trunc shortens untrusted input before it is echoed into an error message.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
