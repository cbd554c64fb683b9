package watch_test

import (
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
	"github.com/livecdn/livecdn/origin/watch"
)

// The pinned version must be the one the test harness installs, so the SRI
// check below and the browser test run against the very file the CDN serves.
func TestVersionMatchesPackageJSON(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testenv.Dir(), "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct{ Dependencies map[string]string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	if got := pkg.Dependencies["hls.js"]; got != watch.HLSJSVersion {
		t.Errorf("internal/testenv/package.json pins hls.js %q, watch.HLSJSVersion is %q", got, watch.HLSJSVersion)
	}
	if !strings.Contains(watch.HLSJSURL, "/hls.js@"+watch.HLSJSVersion+"/dist/hls.min.js") {
		t.Errorf("HLSJSURL %s does not name hls.js@%s/dist/hls.min.js", watch.HLSJSURL, watch.HLSJSVersion)
	}
}

func TestIntegrityMatchesNPMFile(t *testing.T) {
	if v := testenv.NPMVersion(t, "hls.js"); v != watch.HLSJSVersion {
		t.Fatalf("node_modules has hls.js %s, page pins %s (run npm ci in internal/testenv)", v, watch.HLSJSVersion)
	}
	b, err := os.ReadFile(testenv.NPMFile(t, "hls.js", "dist/hls.min.js"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha512.Sum384(b)
	want := "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
	if watch.HLSJSIntegrity != want {
		t.Errorf("HLSJSIntegrity = %s, dist/hls.min.js of hls.js@%s hashes to %s", watch.HLSJSIntegrity, watch.HLSJSVersion, want)
	}
}

var (
	cdnScriptRE = regexp.MustCompile(`<script src="([^"]*)" integrity="([^"]*)" crossorigin="([^"]*)"></script>`)
	nonceRE     = regexp.MustCompile(`<script nonce="([^"]+)">`)
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(watch.Handler("main"))
	t.Cleanup(srv.Close)
	cases := []struct {
		method, path string
		status       int
	}{
		{"GET", "/", 200},
		{"GET", "/?stream=other", 200},
		{"HEAD", "/", 200},
		{"POST", "/", 405},
		{"GET", "/index.html", 404},
		{"GET", "/live/main/index.m3u8", 404},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status != 200 || tc.method != "GET" {
				return
			}
			page := string(body)
			m := cdnScriptRE.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no CDN script tag with integrity and crossorigin in:\n%s", page)
			}
			if src := html.UnescapeString(m[1]); src != watch.HLSJSURL {
				t.Errorf("script src %q, want %q", src, watch.HLSJSURL)
			}
			if sri := html.UnescapeString(m[2]); sri != watch.HLSJSIntegrity {
				t.Errorf("integrity %q, want %q", sri, watch.HLSJSIntegrity)
			}
			if m[3] != "anonymous" {
				t.Errorf("crossorigin %q, want anonymous", m[3])
			}
			if !strings.Contains(page, `data-default-stream="main"`) {
				t.Error("default stream not in the page")
			}
			n := nonceRE.FindStringSubmatch(page)
			csp := resp.Header.Get("Content-Security-Policy")
			if n == nil || !strings.Contains(csp, "'nonce-"+n[1]+"'") || !strings.Contains(csp, "https://cdn.jsdelivr.net") {
				t.Errorf("inline script nonce %v does not match CSP %q", n, csp)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

// TestPagePlays opens the page in headless Chromium against a live CMAF HLS
// stream written by ffmpeg, with hls.js answered from node_modules at its CDN
// URL: the browser itself checks the SRI hash and the CSP.
func TestPagePlays(t *testing.T) {
	testenv.NeedBrowser(t)
	t.Parallel()
	fs := testenv.StartFileStream(t, "hls", "cam1", testenv.Source{}, 3)
	mux := http.NewServeMux()
	mux.Handle("/", watch.Handler("nosuchstream"))
	mux.Handle("/live/", http.FileServer(http.Dir(fs.Root)))
	mux.HandleFunc("GET "+watch.StreamsPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `[{"name":"cam1"},{"name":"cam2","renditions":["720p"]}]`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	r := testenv.Play(t, testenv.PlayOptions{
		PageURL:  srv.URL + "/?stream=cam1",
		Duration: 4 * time.Second,
		Eval: `({
			latency: document.getElementById('latency').textContent,
			rendition: document.getElementById('rendition').textContent,
			buffer: document.getElementById('buffer').textContent,
			status: document.getElementById('status').textContent,
			streams: [...document.querySelectorAll('#streams a')].map(a => a.textContent),
			current: document.querySelector('#streams a[aria-current]')?.textContent ?? '',
			lowLatency: window.hls.config.lowLatencyMode,
		})`,
	})
	t.Log(r.Summary())
	if !r.Started || r.Played < 4 {
		t.Fatalf("page did not play (played %.2fs); errors %v; harness %v; blocked %v; console:\n%s",
			r.Played, r.Errors, r.HarnessErrors, r.Blocked, strings.Join(r.Console, "\n"))
	}
	if r.Player != "hls" {
		// Chromium also plays HLS natively: the page must have used hls.js.
		t.Errorf("page exposed player %q, want hls.js", r.Player)
	}
	if f := r.FatalErrors(); len(f) > 0 || len(r.HarnessErrors) > 0 || len(r.Blocked) > 0 {
		t.Errorf("fatal errors %v; harness %v; blocked %v", f, r.HarnessErrors, r.Blocked)
	}
	for _, line := range r.Console {
		if strings.Contains(line, "Content Security Policy") || strings.Contains(line, "integrity") {
			t.Errorf("console: %s", line)
		}
	}
	var ui struct {
		Latency, Rendition, Buffer, Status, Current string
		Streams                                     []string
		LowLatency                                  bool
	}
	if err := json.Unmarshal(r.Eval, &ui); err != nil {
		t.Fatalf("eval %s: %v", r.Eval, err)
	}
	t.Logf("page shows %+v", ui)
	if !regexp.MustCompile(`^\d+\.\d\d s$`).MatchString(ui.Latency) || r.Latency <= 0 {
		t.Errorf("latency shown %q (hls.latency %.2f)", ui.Latency, r.Latency)
	}
	if !strings.HasPrefix(ui.Rendition, "180p · ") {
		t.Errorf("rendition shown %q, want 180p · …", ui.Rendition)
	}
	if !strings.HasSuffix(ui.Buffer, " s") || ui.Status != "playing" || !ui.LowLatency {
		t.Errorf("buffer %q status %q lowLatencyMode %v", ui.Buffer, ui.Status, ui.LowLatency)
	}
	if strings.Join(ui.Streams, ",") != "cam1,cam2" || ui.Current != "cam1" {
		t.Errorf("streams %v current %q, want cam1,cam2 with cam1 current", ui.Streams, ui.Current)
	}
}
