package testenv

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FileStream is a live stream that ffmpeg writes into a directory, served by an
// httptest server on 127.0.0.1 with permissive CORS: an origin stand-in for
// tests of players, edges and pages that need real HLS or DASH but not our
// packager.
type FileStream struct {
	// Root is the directory served; the stream is under Root/live/{name}.
	Root string
	// Dir holds the playlists and segments (Root/live/{name}).
	Dir string
	// Server serves Dir; it is closed when the test ends.
	Server *httptest.Server
	// URL is the multivariant playlist (HLS, "/live/{name}/index.m3u8") or
	// the MPD (DASH, "/live/{name}/manifest.mpd"), the paths our origin uses.
	URL string
	// Publisher is the ffmpeg writing the stream.
	Publisher *Publisher
}

// StartFileStream starts ffmpeg writing src as a live stream named name in
// format "hls" (CMAF/fMP4 segments, one rendition "v0" under a multivariant
// playlist) or "dash" (dynamic MPD, SegmentTemplate), paced at real time,
// and waits until the playlist names at least minSegments segments
// (default 2). Segments last src.GOP frames (default 1 s here).
func StartFileStream(t testing.TB, format, name string, src Source, minSegments int) *FileStream {
	t.Helper()
	NeedFFmpeg(t)
	if src.Rate == 0 {
		src.Rate = 30
	}
	if src.GOP == 0 {
		src.GOP = src.Rate
	}
	if src.Duration == 0 {
		src.Duration = 5 * time.Minute // ends on its own if a test forgets Stop
	}
	src.Realtime = true
	if minSegments <= 0 {
		minSegments = 2
	}
	segDur := float64(src.GOP) / float64(src.Rate)

	root := t.TempDir()
	dir := filepath.Join(root, "live", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var out, playlist, urlPath string
	switch format {
	case "hls":
		src.Extra = append(src.Extra,
			"-hls_time", ftoa(segDur), "-hls_list_size", "8", "-hls_flags", "delete_segments+independent_segments",
			// A player that a loaded machine left far behind the live edge
			// still finds the segments it was promised.
			"-hls_delete_threshold", "60",
			"-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4",
			"-master_pl_name", "index.m3u8", "-var_stream_map", varStreamMap(src),
			"-hls_segment_filename", filepath.Join(dir, "v%v", "seg%d.m4s"))
		out = filepath.Join(dir, "v%v", "index.m3u8")
		playlist = filepath.Join(dir, "v0", "index.m3u8")
		urlPath = "/live/" + name + "/index.m3u8"
	case "dash":
		src.Extra = append(src.Extra,
			"-seg_duration", ftoa(segDur), "-window_size", "8", "-extra_window_size", "4",
			"-use_template", "1", "-use_timeline", "1", "-remove_at_exit", "0",
			"-init_seg_name", "init-$RepresentationID$.m4s",
			"-media_seg_name", "seg-$RepresentationID$-$Number$.m4s")
		out = filepath.Join(dir, "manifest.mpd")
		playlist = out
		urlPath = "/live/" + name + "/manifest.mpd"
	default:
		t.Fatalf("StartFileStream: unknown format %q (want hls or dash)", format)
	}
	fs := &FileStream{Root: root, Dir: dir}
	fs.Publisher = Publish(t, src.Args(format, out)...)

	fileServer := http.FileServer(http.Dir(root))
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		if strings.HasSuffix(r.URL.Path, ".m3u8") || strings.HasSuffix(r.URL.Path, ".mpd") {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fileServer.ServeHTTP(w, r)
	}))
	t.Cleanup(fs.Server.Close)
	fs.URL = fs.Server.URL + urlPath

	marker := "#EXTINF"
	if format == "dash" {
		marker = "<S "
	}
	Eventually(t, 30*time.Second, "ffmpeg writes "+playlist, func() bool {
		select {
		case <-fs.Publisher.Done():
			t.Fatalf("ffmpeg exited early: %s", fs.Publisher.Output())
		default:
		}
		b, err := os.ReadFile(playlist)
		if err != nil {
			return false
		}
		n := strings.Count(string(b), marker)
		if format == "dash" {
			// With a timeline, one <S r="k"> stands for k+1 segments.
			for _, m := range repeatRE.FindAllSubmatch(b, -1) {
				k, _ := strconv.Atoi(string(m[1]))
				n += k
			}
		}
		return n >= minSegments
	})
	return fs
}

func varStreamMap(src Source) string {
	if src.AudioCodec == "none" {
		return "v:0,name:0"
	}
	return "v:0,a:0,name:0"
}

var repeatRE = regexp.MustCompile(`<S [^>]*\br="(\d+)"`)

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
