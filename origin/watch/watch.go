// Package watch serves the viewer page: a small HTML player for a live
// stream that loads hls.js from a public CDN, pinned by version and checked
// by Subresource Integrity, and shows what a viewer and an operator want to
// see at a glance: live latency, the rendition playing, the buffer, and the
// other streams on air.
package watch

import (
	"bytes"
	"crypto/rand"
	_ "embed"
	"encoding/base64"
	"html/template"
	"net/http"
)

// The hls.js build the page loads. HLSJSIntegrity is the sha384 of
// dist/hls.min.js of exactly HLSJSVersion (the npm package pinned in
// internal/testenv/package.json); a test recomputes it from that file, so
// bumping one without the other fails. Recompute with:
//
//	openssl dgst -sha384 -binary node_modules/hls.js/dist/hls.min.js | openssl base64 -A
const (
	HLSJSVersion   = "1.7.4"
	HLSJSURL       = "https://cdn.jsdelivr.net/npm/hls.js@" + HLSJSVersion + "/dist/hls.min.js"
	HLSJSIntegrity = "sha384-p9vgU/7IYJWd3I4STrtqxqR/2cAQlhIX7D/HrTnIMEjjcUox165b7se7sxmm3zDg"
)

// StreamsPath is the API the page lists streams from: a JSON array of
// objects with at least "name".
const StreamsPath = "/api/streams"

//go:embed index.html
var indexHTML string

var page = template.Must(template.New("watch").Parse(indexHTML))

type pageData struct {
	DefaultStream string
	ScriptURL     string
	Integrity     string
	Nonce         string
	StreamsPath   string
}

// Handler serves the watch page at "/" (anything else is 404). The page plays
// /live/{stream}/index.m3u8, where stream is the ?stream= query parameter or
// defaultStream. Mount it at the root of an origin or an edge: the playlist
// and stream list URLs are absolute paths on the same host.
func Handler(defaultStream string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" && r.URL.Path != "" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		nonce := newNonce()
		var buf bytes.Buffer
		if err := page.Execute(&buf, pageData{
			DefaultStream: defaultStream, ScriptURL: HLSJSURL, Integrity: HLSJSIntegrity,
			Nonce: nonce, StreamsPath: StreamsPath,
		}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// MSE plays from blob: URLs and hls.js runs its demuxer in a blob: worker.
		h.Set("Content-Security-Policy", "default-src 'none'; "+
			"script-src 'nonce-"+nonce+"' https://cdn.jsdelivr.net; style-src 'nonce-"+nonce+"'; "+
			"connect-src 'self'; media-src 'self' blob:; worker-src blob:; img-src 'self' data:; "+
			"base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
		_, _ = w.Write(buf.Bytes())
	})
}

func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
