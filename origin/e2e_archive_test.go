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

// TestArchiveSurvivesKill9 kills the origin (SIGKILL) while a publisher is
// live: after a restart every segment that had completed before the kill is
// in the index and plays, the index parses, and a new publish continues the
// archive with a discontinuity instead of renaming anything.
func TestArchiveSurvivesKill9(t *testing.T) {
	testenv.NeedFFmpeg(t)
	t.Parallel()
	n := startOrigin(t, "")
	pub := testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n.rtmpURL("k"))
	m := waitSegments(t, n.HTTP+"/live/k/video/index.m3u8", 4, 30*time.Second)
	// The last complete segment the live playlist lists completed before the kill.
	lastMSN := int64(m.MediaSequence + len(m.Segments) - 1)
	n.Kill()
	pub.Stop()
	indexPath := filepath.Join(n.dir, "k", "archive-index.jsonl")
	before := videoSegments(readIndex(t, indexPath))

	n2 := n.restart(t)
	for msn := int64(0); msn <= lastMSN; msn++ {
		found := false
		for _, r := range before {
			found = found || r.MSN == msn
		}
		if !found {
			t.Errorf("segment %d completed before the kill but is not in the archive index", msn)
		}
	}
	rm := media(t, n2.HTTP+"/replay/k/video/index.m3u8")
	if len(rm.Segments) < int(lastMSN)+1 {
		t.Fatalf("replay after restart lists %d segments, want ≥ %d", len(rm.Segments), lastMSN+1)
	}
	file := download(t, n2.HTTP+"/replay/k/video", rm)
	if d := span(t, file); d < float64(2*lastMSN) {
		t.Errorf("archived video before the kill plays %.1fs, want ≥ %ds", d, 2*lastMSN)
	}

	// Publish again: the archive continues after a discontinuity; old names keep their bytes.
	seg0 := mustGet(t, n2.HTTP+"/replay/k/video/seg0.m4s")
	testenv.PublishSource(t, testenv.Source{Duration: 30 * time.Second, Realtime: true}, "flv", n2.rtmpURL("k"))
	testenv.Eventually(t, 30*time.Second, "second session archived", func() bool {
		segs := videoSegments(readIndex(t, indexPath))
		return segs[len(segs)-1].Session == 2
	})
	after := videoSegments(readIndex(t, indexPath))
	for i, r := range after {
		if i > 0 && r.MSN <= after[i-1].MSN {
			t.Fatalf("MSN went back: %d after %d", r.MSN, after[i-1].MSN)
		}
		if r.Session == 2 && after[i-1].Session == 1 && !r.Disc {
			t.Errorf("first segment of the new session is not marked a discontinuity")
		}
	}
	body := string(mustGet(t, n2.HTTP+"/replay/k/video/index.m3u8"))
	if !contains(body, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"", "#EXT-X-PLAYLIST-TYPE:EVENT") || strings.Contains(body, "#EXT-X-ENDLIST") {
		t.Errorf("replay across the reconnect:\n%s", body)
	}
	if b := mustGet(t, n2.HTTP+"/replay/k/video/seg0.m4s"); string(b) != string(seg0) {
		t.Errorf("seg0 changed bytes after a re-publish")
	}
}

// TestStartOver: while the stream is live, hls.js opens the open-ended replay
// playlist (EVENT, EXT-X-START at 0) and plays from the stream's first second
// forward, while the playlist keeps growing toward live.
func TestStartOver(t *testing.T) {
	testenv.NeedFFmpeg(t)
	testenv.NeedBrowser(t)
	t.Parallel()
	n := startOrigin(t, "")
	testenv.PublishSource(t, testenv.Source{Duration: 90 * time.Second, Realtime: true}, "flv", n.rtmpURL("so"))
	waitSegments(t, n.HTTP+"/live/so/video/index.m3u8", 6, 40*time.Second)
	url := n.HTTP + "/replay/so/index.m3u8"
	first := media(t, n.HTTP+"/replay/so/video/index.m3u8")
	if first.Endlist || first.Start == nil || first.Start.TimeOffset > time.Millisecond {
		t.Fatalf("start-over playlist is closed or does not start at 0")
	}
	resp, _ := http.Get(url)
	resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=1" {
		t.Errorf("open replay playlist Cache-Control %q", cc)
	}
	// DASH: a dynamic MPD over the whole archive, rewindable to its start.
	mpd := string(mustGet(t, n.HTTP+"/replay/so/manifest.mpd"))
	if !contains(mpd, `type="dynamic"`, `timeShiftBufferDepth="PT`, "video/seg$Number$.m4s") || strings.Contains(mpd, `timeShiftBufferDepth="PT0S"`) {
		t.Errorf("start-over MPD:\n%s", mpd)
	}
	dres := testenv.Play(t, testenv.PlayOptions{Player: "dash", URL: n.HTTP + "/replay/so/manifest.mpd", Duration: 4 * time.Second,
		Eval: "window.dashPlayer.getDvrWindow ? window.dashPlayer.getDvrWindow().size : -1"})
	t.Logf("archive MPD in dash.js: %s; DVR window %s s", dres.Summary(), dres.Eval)
	if !dres.Started || dres.Played < 3.5 || len(dres.FatalErrors()) > 0 {
		t.Errorf("dash.js on the archive MPD played %.1fs; fatal errors %v", dres.Played, dres.FatalErrors())
	}
	res := testenv.Play(t, testenv.PlayOptions{Player: "hls", URL: url, Duration: 6 * time.Second,
		Eval: "document.querySelector('video').seekable.end(0)"})
	t.Logf("start-over: %s", res.Summary())
	if !res.Started || res.Played < 5.5 || len(res.FatalErrors()) > 0 {
		t.Fatalf("start-over played %.1fs; fatal errors %v", res.Played, res.FatalErrors())
	}
	// It played from the start, not from near live: currentTime is about what it played.
	if res.CurrentTime > res.Played+3 {
		t.Errorf("start-over began at %.1fs, not at the stream's start", res.CurrentTime-res.Played)
	}
	var seekableEnd float64
	_ = json.Unmarshal(res.Eval, &seekableEnd)
	later := media(t, n.HTTP+"/replay/so/video/index.m3u8")
	if len(later.Segments) <= len(first.Segments) {
		t.Errorf("the start-over playlist did not grow: %d then %d segments", len(first.Segments), len(later.Segments))
	}
	if seekableEnd < res.CurrentTime+4 {
		t.Errorf("seekable range ends at %.1fs, not ahead of playback (%.1fs) toward live", seekableEnd, res.CurrentTime)
	}
}

// TestS3OutageDuringPublish stops the S3 server for 10 s while a stream is
// live: the live playlist keeps advancing on time, and afterwards the
// archive catches up with every segment in the bucket (no gap).
func TestS3OutageDuringPublish(t *testing.T) {
	testenv.NeedFFmpeg(t)
	if testing.Short() {
		t.Skip("10 s outage")
	}
	t.Parallel()
	srv := testenv.StartS3(t)
	srv.MakeBucket("media")
	spool := t.TempDir()
	n := startOrigin(t, "", "--archive", "s3://media/arch", "--archive-spool", spool,
		"--s3-endpoint", srv.Endpoint, "--s3-access-key", srv.AccessKey, "--s3-secret-key", srv.SecretKey)
	testenv.PublishSource(t, testenv.Source{Duration: 40 * time.Second, Realtime: true}, "flv", n.rtmpURL("o"))
	live := n.HTTP + "/live/o/video/index.m3u8"
	m := waitSegments(t, live, 3, 30*time.Second)
	before := m.MediaSequence + len(m.Segments)

	srv.Stop()
	down := time.Now()
	// 10 s of 2 s segments: the live path must deliver about five, as usual.
	testenv.Eventually(t, 20*time.Second, "live playlist advancing during the S3 outage", func() bool {
		m := media(t, live)
		return m.MediaSequence+len(m.Segments) >= before+4
	})
	if wait := time.Since(down); wait > 10*time.Second {
		t.Errorf("4 live segments took %v during the outage", wait)
	}
	time.Sleep(10*time.Second - time.Since(down)) // keep S3 down for the full 10 s
	if p := pendingUploads(t, n); p == 0 {
		t.Fatal("no upload pending during the outage: was S3 down?")
	}
	srv.Start()
	back := time.Now()
	// What was indexed by now was queued for upload before S3 came back.
	queued := readIndex(t, filepath.Join(spool, "o", "archive-index.jsonl"))
	testenv.Eventually(t, 60*time.Second, "archive caught up after the outage", func() bool {
		return pendingUploads(t, n) == 0
	})
	t.Logf("S3 catch-up after a 10 s outage: %v", time.Since(back).Round(10*time.Millisecond))
	for _, r := range queued {
		if r.Kind != "seg" {
			continue
		}
		key := fmt.Sprintf("arch/o/%s/seg%d.m4s", r.Rendition, r.MSN)
		if _, err := os.Stat(srv.Object("media", key)); err != nil {
			t.Errorf("gap in the bucket: %s: %v", key, err)
		}
	}
}

// pendingUploads reads livecdn_archive_upload_pending from /metrics.
func pendingUploads(t *testing.T, n *node) int {
	t.Helper()
	for _, line := range strings.Split(string(mustGet(t, n.HTTP+"/metrics")), "\n") {
		if v, ok := strings.CutPrefix(line, "livecdn_archive_upload_pending "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return int(f)
		}
	}
	t.Fatal("no livecdn_archive_upload_pending metric")
	return 0
}
