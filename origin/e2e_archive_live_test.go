package origin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/internal/testenv"
)

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
	// The index file is written before the archive's memory, which replay
	// reads: wait for what a viewer sees, too.
	testenv.Eventually(t, 10*time.Second, "second session in the replay playlist", func() bool {
		return strings.Contains(string(mustGet(t, n2.HTTP+"/replay/k/video/index.m3u8")), "init2.mp4")
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
	n := startOrigin(t, "", "--window", "3")
	testenv.PublishSource(t, testenv.Source{Duration: 90 * time.Second, Realtime: true}, "flv", n.rtmpURL("so"))
	testenv.Eventually(t, 40*time.Second, "seg0 out of the live window", func() bool {
		code, b := get(t, n.HTTP+"/live/so/video/index.m3u8")
		var m playlist.Media
		return code == http.StatusOK && m.Unmarshal(b) == nil && m.MediaSequence > 1
	})
	// The live MPD lists the archive before its window (timeShiftBufferDepth
	// beyond the 3-segment window), and those segments are served under /live/.
	liveMPD := string(mustGet(t, n.HTTP+"/live/so/manifest.mpd"))
	if !contains(liveMPD, `startNumber="0"`) {
		t.Errorf("live MPD does not reach back to seg0:\n%s", liveMPD)
	}
	if a, b := mustGet(t, n.HTTP+"/live/so/video/seg0.m4s"), mustGet(t, n.HTTP+"/replay/so/video/seg0.m4s"); string(a) != string(b) {
		t.Errorf("seg0 under /live/ (from the archive) differs from /replay/")
	}
	// The live multivariant playlist announces the start-over playlist
	// and how far back the archive reaches.
	mv := string(mustGet(t, n.HTTP+"/live/so/index.m3u8"))
	if !contains(mv, `DATA-ID="com.livecdn.start-over",VALUE="/replay/so/index.m3u8"`, `DATA-ID="com.livecdn.rewind-from",VALUE="20`) {
		t.Errorf("live multivariant playlist does not announce the rewind window:\n%s", mv)
	}
	var mvp playlist.Multivariant
	if err := mvp.Unmarshal([]byte(mv)); err != nil {
		t.Errorf("the announcement breaks the playlist for gohlslib: %v", err)
	}
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
	testenv.PublishSource(t, testenv.Source{Duration: 60 * time.Second, Realtime: true}, "flv", n.rtmpURL("o"))
	live := n.HTTP + "/live/o/video/index.m3u8"
	waitSegments(t, live, 3, 30*time.Second)
	next := func() int { m := media(t, live); return m.MediaSequence + len(m.Segments) }
	// The baseline: how long 4 segments take with S3 up, on this machine now
	// (a loaded box runs the publisher late too).
	start, at := time.Now(), next()
	testenv.Eventually(t, 30*time.Second, "4 live segments with S3 up", func() bool { return next() >= at+4 })
	baseline := time.Since(start)
	before := next()

	srv.Stop()
	down := time.Now()
	// 10 s of 2 s segments: the live path must deliver about five, as usual.
	testenv.Eventually(t, 30*time.Second, "live playlist advancing during the S3 outage", func() bool { return next() >= before+4 })
	wait := time.Since(down)
	t.Logf("4 live segments: %v with S3 up, %v during the outage", baseline.Round(time.Millisecond), wait.Round(time.Millisecond))
	if wait > baseline*3/2+2*time.Second {
		t.Errorf("4 live segments took %v during the outage, %v before it", wait, baseline)
	}
	time.Sleep(max(0, 10*time.Second-time.Since(down))) // keep S3 down for the full 10 s
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
