package compare

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const immutable = "public, max-age=31536000, immutable"

// Objects are the synthetic, live-shaped objects every comparison serves
// from its upstream (here and deploy/compare/upstream): any seg*.m4s is the
// segment, any part*.m4s the part, any *.m3u8 the playlist, with the cache
// headers the livecdn origin sends.
type Objects struct {
	Seg, Part, Playlist []byte
	// PlaylistMaxAge is the playlists' max-age in seconds.
	PlaylistMaxAge int
	modified       string
}

// NewObjects builds objects of the given sizes (playlist at least 256 B).
func NewObjects(segBytes, partBytes, playlistBytes int) *Objects {
	return &Objects{Seg: pattern(segBytes, 1), Part: pattern(partBytes, 2), Playlist: playlistBody(playlistBytes),
		PlaylistMaxAge: 1, modified: time.Now().UTC().Format(http.TimeFormat)}
}

// Serve answers a request for the object called name (the last path
// element), or 404.
func (o *Objects) Serve(w http.ResponseWriter, r *http.Request, name string) {
	var body []byte
	h := w.Header()
	switch {
	case strings.HasSuffix(name, ".m3u8"):
		body = o.Playlist
		h.Set("Content-Type", "application/vnd.apple.mpegurl")
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(o.PlaylistMaxAge))
	case strings.HasPrefix(name, "seg") && strings.HasSuffix(name, ".m4s"):
		body = o.Seg
		h.Set("Content-Type", "video/iso.segment")
		h.Set("Cache-Control", immutable)
	case strings.HasPrefix(name, "part") && strings.HasSuffix(name, ".m4s"):
		body = o.Part
		h.Set("Content-Type", "video/iso.segment")
		h.Set("Cache-Control", immutable)
	default:
		h.Set("Cache-Control", "public, max-age=0")
		http.NotFound(w, r)
		return
	}
	h.Set("Last-Modified", o.modified)
	h.Set("ETag", fmt.Sprintf("\"%d-%x\"", len(body), body[len(body)/2]))
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	w.Write(body) //nolint:errcheck // the client hung up
}

// pattern returns deterministic, position-dependent bytes, so a cache that
// returns the wrong range or a truncated body fails a checksum.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31+i/4096) ^ seed
	}
	return b
}

// playlistBody returns an LL-HLS-looking media playlist padded to exactly n bytes.
func playlistBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:100\n#EXT-X-INDEPENDENT-SEGMENTS\n")
	for i := 100; i < 106; i++ {
		fmt.Fprintf(&b, "#EXTINF:2.000,\nseg%d.m4s\n", i)
	}
	for b.Len() < n-1 {
		b.WriteString("#")
	}
	b.Truncate(n - 1)
	b.WriteString("\n")
	return b.Bytes()
}
