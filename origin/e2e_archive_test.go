package origin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

// indexRecord is the part of an archive index line the tests read.
type indexRecord struct {
	Kind      string    `json:"k"`
	Rendition string    `json:"r"`
	Session   int       `json:"s"`
	MSN       int64     `json:"msn"`
	Disc      bool      `json:"disc"`
	PDT       time.Time `json:"pdt"`
	Duration  int64     `json:"dur"`
}

// readIndex parses an archive index file strictly: every line must be a record.
func readIndex(t *testing.T, path string) []indexRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []indexRecord
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r indexRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("index %s line %d corrupt: %v: %q", path, len(out)+1, err, sc.Text())
		}
		out = append(out, r)
	}
	return out
}

func videoSegments(recs []indexRecord) []indexRecord {
	var out []indexRecord
	for _, r := range recs {
		if r.Kind == "seg" && r.Rendition == "video" {
			out = append(out, r)
		}
	}
	return out
}

// archiveBackend is one way to run the origin's archive.
type archiveBackend struct {
	name  string
	start func(t *testing.T) (*node, string) // the origin and its index path for stream "s"
}

func backends() []archiveBackend {
	return []archiveBackend{
		{"disk", func(t *testing.T) (*node, string) {
			n := startOrigin(t, "", "--clip-max", "15s")
			return n, filepath.Join(n.dir, "s", "archive-index.jsonl")
		}},
		{"s3", func(t *testing.T) (*node, string) {
			srv := testenv.StartS3(t)
			srv.MakeBucket("media")
			spool := t.TempDir()
			n := startOrigin(t, "", "--archive", "s3://media/arch", "--archive-spool", spool,
				"--s3-endpoint", srv.Endpoint, "--s3-access-key", srv.AccessKey, "--s3-secret-key", srv.SecretKey,
				"--clip-max", "15s")
			return n, filepath.Join(spool, "s", "archive-index.jsonl")
		}},
	}
}

// TestReplayAndClip publishes 20 s, stops, and replays the middle 10 s: as an
// HLS VOD playlist (ffprobe and hls.js), a static DASH MPD, and an MP4 clip
// (HTTP and `livecdn clip`) that starts on a keyframe. Disk and S3 archives.
func TestReplayAndClip(t *testing.T) {
	testenv.NeedFFmpeg(t)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			n, indexPath := be.start(t)
			pub := testenv.PublishSource(t, testenv.Source{Duration: 20 * time.Second, Realtime: true}, "flv", n.rtmpURL("s"))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := pub.Wait(ctx); err != nil {
				t.Fatalf("publisher: %v", err)
			}
			var segs []indexRecord
			testenv.Eventually(t, 20*time.Second, "20 s archived", func() bool {
				segs = videoSegments(readIndex(t, indexPath))
				return len(segs) >= 9
			})
			start := segs[0].PDT
			from, to := start.Add(5*time.Second), start.Add(15*time.Second)
			q := fmt.Sprintf("?from=%d.%03d&to=%s", from.Unix(), from.Nanosecond()/1e6, to.Format(time.RFC3339Nano))
			base := n.HTTP + "/replay/s/"

			resp, err := http.Get(base + "index.m3u8" + q)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Fatalf("multivariant: %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
			}
			var mv playlist.Multivariant
			if err := mv.Unmarshal(mustGet(t, base+"index.m3u8"+q)); err != nil {
				t.Fatal(err)
			}
			if len(mv.Variants) != 1 || !strings.HasPrefix(mv.Variants[0].URI, "video/index.m3u8?from=") {
				t.Fatalf("variants: %+v", mv.Variants)
			}
			m := media(t, base+mv.Variants[0].URI)
			if !m.Endlist || m.PlaylistType == nil || *m.PlaylistType != playlist.MediaPlaylistTypeVOD {
				t.Fatalf("closed range is not a VOD playlist with ENDLIST")
			}
			// Every segment is served from the archive, immutable.
			file := download(t, base+"video", m)
			if d := span(t, file); math.Abs(d-10) > 2.1 {
				t.Errorf("replayed video lasts %.2fs, want 10 s ± one segment", d)
			}

			// The clip: a progressive MP4 of 10 s (± the keyframe before from).
			clipURL := n.HTTP + "/api/clip/s.mp4" + q
			clipFile := filepath.Join(t.TempDir(), "clip.mp4")
			os.WriteFile(clipFile, mustGet(t, clipURL), 0o644)
			checkClip(t, clipFile)
			cli := filepath.Join(t.TempDir(), "cli.mp4")
			out, err := exec.Command(testenv.Binary(t), "clip", "--origin", n.HTTP, "--stream", "s",
				"--from", from.Format(time.RFC3339Nano), "--to", to.Format(time.RFC3339Nano), "-o", cli).CombinedOutput()
			if err != nil {
				t.Fatalf("livecdn clip: %v\n%s", err, out)
			}
			checkClip(t, cli)

			// DASH: a static MPD over the same range.
			mpd := string(mustGet(t, base+"manifest.mpd"+q))
			if !contains(mpd, `type="static"`, `mediaPresentationDuration=`, "video/seg$Number$.m4s") {
				t.Errorf("replay MPD:\n%s", mpd)
			}
			checkBadRequests(t, n, from)
			if be.name == "disk" {
				checkThroughEdge(t, n, q, fmt.Sprintf("?from=%d&to=%d", from.Unix()+2, to.Unix()))
			}

			if be.name == "disk" { // one browser run is enough: the bytes are the same
				testenv.NeedBrowser(t)
				for _, player := range []struct{ name, url string }{
					{"hls", base + "index.m3u8" + q}, {"dash", base + "manifest.mpd" + q}} {
					res := testenv.Play(t, testenv.PlayOptions{Player: player.name, URL: player.url, Duration: 6 * time.Second})
					t.Logf("replay in %s: %s", player.name, res.Summary())
					for _, e := range res.Errors {
						t.Logf("%s event: %s", player.name, e)
					}
					if !res.Started || res.Played < 5.5 || len(res.FatalErrors()) > 0 {
						t.Errorf("%s replay played %.1fs; fatal errors %v", player.name, res.Played, res.FatalErrors())
					}
				}
			}
		})
	}
}

// span is how long the video of a file lasts by its packets, from the first
// to the end of the last (a replay starts at a media time other than 0).
func span(t *testing.T, file string) float64 {
	t.Helper()
	pkts := testenv.FFprobePackets(t, file, "v:0")
	if len(pkts) < 2 {
		t.Fatalf("%s: %d video packets", file, len(pkts))
	}
	lo, hi := pkts[0].PTS, pkts[0].PTS
	for _, p := range pkts {
		lo, hi = min(lo, p.PTS), max(hi, p.PTS)
	}
	return hi - lo + (hi-lo)/float64(len(pkts)-1)
}

// checkThroughEdge: a real edge in front of the origin caches replay
// playlists, clips and archived media, and keeps two ranges apart.
func checkThroughEdge(t *testing.T, n *node, q1, q2 string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e := testenv.Start(t, addr, "edge", "--http", addr, "--origin", n.HTTP, "--cache-size", "64MiB")
	for _, path := range []string{"/replay/s/index.m3u8" + q1, "/replay/s/video/index.m3u8" + q2,
		"/replay/s/manifest.mpd" + q1, "/replay/s/video/seg5.m4s", "/api/clip/s.mp4" + q2} {
		want := mustGet(t, n.HTTP+path)
		for i, cache := range []string{"MISS", "HIT"} {
			resp, err := http.Get(e.HTTP + path)
			if err != nil {
				t.Fatal(err)
			}
			body := new(strings.Builder)
			_, _ = io.Copy(body, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || body.String() != string(want) {
				t.Errorf("edge %s (request %d): %d, %d bytes; origin has %d bytes", path, i+1, resp.StatusCode, body.Len(), len(want))
			}
			// (A first request may already hit: the edge prefetches what a playlist names.)
			if got := resp.Header.Get("X-Cache"); got != cache && !(i == 0 && got == "HIT") {
				t.Errorf("edge %s request %d: X-Cache %q, want %s", path, i+1, got, cache)
			}
		}
	}
}

func checkClip(t *testing.T, file string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 16 || string(b[4:8]) != "ftyp" || !strings.Contains(string(b[:min(len(b), 8192)]), "moov") {
		t.Fatalf("clip does not start with ftyp, moov (faststart)")
	}
	probe := testenv.FFprobe(t, file)
	if d := probe.Duration(); d < 9.9 || d > 12.1 {
		t.Errorf("clip lasts %.2fs, want 10 s plus at most one segment", d)
	}
	if probe.Codec("video") == nil || probe.Codec("audio") == nil {
		t.Errorf("clip streams: %+v", probe.Streams)
	}
	pkts := testenv.FFprobePackets(t, file, "v:0")
	if len(pkts) == 0 || !pkts[0].Key {
		t.Errorf("clip does not start on a keyframe")
	}
}

// checkBadRequests: every malformed or impossible request gets a clear 400/404.
func checkBadRequests(t *testing.T, n *node, from time.Time) {
	t.Helper()
	f := from.Unix()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{fmt.Sprintf("/replay/s/index.m3u8?from=%d&to=%d", f+5, f), 400, "from must be before to"},
		{"/replay/nosuch/index.m3u8", 404, "unknown stream"},
		{fmt.Sprintf("/replay/s/index.m3u8?from=%d&to=%d", f-3600, f-3000), 404, "outside the archive"},
		{"/replay/s/index.m3u8?from=5", 400, "outside"},
		{"/replay/s/index.m3u8?from=yesterday", 400, "not Unix seconds"},
		{fmt.Sprintf("/replay/s/index.m3u8?from=%d&from=%d", f, f), 400, "more than once"},
		{fmt.Sprintf("/replay/s/index.m3u8?from=%d", time.Now().Add(time.Hour).Unix()), 400, "future"},
		{fmt.Sprintf("/replay/s/index.m3u8?from=%d&to=%d", f-200000, f), 400, "limit"},
		{fmt.Sprintf("/api/clip/s.mp4?from=%d&to=%d", f-10, f+10), 400, "limit"},
		{fmt.Sprintf("/api/clip/s.mp4?from=%d", f), 400, "both from and to"},
		{fmt.Sprintf("/api/clip/s.mp4?from=%d&to=%d&rendition=nope", f, f+2), 404, "unknown rendition"},
		{"/replay/s/video/part1.0.m4s", 404, "parts are not archived"},
		{"/replay/s/video/seg99999.m4s", 404, "not in the archive"},
	} {
		code, body := get(t, n.HTTP+tc.path)
		if code != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}
