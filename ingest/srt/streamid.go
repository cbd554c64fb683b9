package srt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/livecdn/livecdn/ingest"
)

// ErrNotPublish is returned for a streamid that asks for anything but
// publishing; this server only ingests, viewers use HLS/DASH.
var ErrNotPublish = errors.New("only publishing is accepted over SRT")

// ParseStreamID reads the stream name and publish key from an SRT streamid.
// It accepts
//
//	publish:live/{stream}
//	publish:live/{stream}?key={key}
//	publish:live/{stream}:{key}
//	#!::r=live/{stream},m=publish,key={key}   (SRT access control syntax)
//
// Name errors wrap ingest.ErrBadName; a mode other than publish (the access
// control syntax defaults to m=request) returns an error wrapping ErrNotPublish.
// A streamid that only parses URL-decoded is accepted in that form.
func ParseStreamID(id string) (name, key string, err error) {
	name, key, err = parseStreamID(id)
	if err != nil && strings.Contains(id, "%") {
		// Some clients (ffmpeg 5.1) send the streamid URL-encoded, exactly as
		// it was written in the srt:// URL; the encoded form never parses.
		if dec, derr := url.PathUnescape(id); derr == nil && dec != id {
			if n, k, err2 := parseStreamID(dec); err2 == nil {
				return n, k, nil
			}
		}
	}
	return name, key, err
}

func parseStreamID(id string) (name, key string, err error) {
	if rest, ok := strings.CutPrefix(id, "#!::"); ok {
		return parseAccessControl(rest)
	}
	mode, res, ok := strings.Cut(id, ":")
	if !ok {
		return "", "", fmt.Errorf("%w: streamid %q is not publish:live/{stream}", ingest.ErrBadName, trunc(id))
	}
	if mode != "publish" {
		return "", "", fmt.Errorf("%w: streamid mode %q", ErrNotPublish, trunc(mode))
	}
	// A ':' before any '?' separates the key; after a '?' it belongs to the query.
	path, k, hasKey := res, "", false
	if i := strings.IndexAny(res, ":?"); i >= 0 && res[i] == ':' {
		path, k, hasKey = res[:i], res[i+1:], true
	}
	name, key, err = ingest.ParsePublishPath(path)
	if err != nil {
		return "", "", err
	}
	if hasKey {
		if k == "" {
			return "", "", fmt.Errorf("%w: empty key after ':' in streamid", ingest.ErrBadName)
		}
		key = k
	}
	return name, key, nil
}

// parseAccessControl parses the comma-separated key=value list that follows
// "#!::". Keys other than r, m and key (u, s, t, …) are ignored.
func parseAccessControl(list string) (name, key string, err error) {
	seen := map[string]bool{}
	var res string
	mode := "request" // the default of the SRT access control specification
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", "", fmt.Errorf("%w: streamid item %q is not key=value", ingest.ErrBadName, trunc(kv))
		}
		if seen[k] {
			return "", "", fmt.Errorf("%w: streamid repeats %q", ingest.ErrBadName, trunc(k))
		}
		seen[k] = true
		switch k {
		case "r":
			res = v
		case "m":
			mode = v
		case "key":
			key = v
		}
	}
	if mode != "publish" {
		return "", "", fmt.Errorf("%w: streamid mode m=%s", ErrNotPublish, trunc(mode))
	}
	if res == "" {
		return "", "", fmt.Errorf("%w: streamid has no r=live/{stream}", ingest.ErrBadName)
	}
	name, qkey, err := ingest.ParsePublishPath(res)
	if err != nil {
		return "", "", err
	}
	if key == "" {
		key = qkey
	}
	return name, key, nil
}

// trunc shortens untrusted input before it goes into an error or a log line.
func trunc(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
