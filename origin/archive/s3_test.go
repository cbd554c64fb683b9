package archive_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
	"github.com/livecdn/livecdn/origin/archive"
	"github.com/livecdn/livecdn/origin/live"
)

func s3Archive(t *testing.T, srv *testenv.S3Server, spool string, mut func(*archive.Config)) *archive.Archive {
	t.Helper()
	be, err := archive.NewS3(archive.S3Config{URL: "s3://media/arch", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	srv.MakeBucket("media") // the server may be down: this is its posix backend
	cfg := archive.DefaultConfig()
	cfg.Dir, cfg.Backend = spool, be
	if mut != nil {
		mut(&cfg)
	}
	return openArchive(t, cfg)
}

func TestS3UploadAndRead(t *testing.T) {
	srv := testenv.StartS3(t)
	spool := t.TempDir()
	be, err := archive.NewS3(archive.S3Config{URL: "s3://fresh", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // creates the bucket, then finds it
		if err := be.EnsureBucket(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a := s3Archive(t, srv, spool, nil)
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Minute))
	var want [][]byte
	for range 4 {
		want = append(want, f.segment(5000, false))
	}
	flush(t, a)
	testenv.Eventually(t, 20*time.Second, "spool uploaded", func() bool { return a.Pending() == 0 })
	// Uploaded files leave the spool; the bucket holds them (and the index).
	if _, err := os.Stat(spool + "/s/media/video/seg0.m4s"); !os.IsNotExist(err) {
		t.Errorf("seg0 still in the spool: %v", err)
	}
	for _, key := range []string{"arch/s/video/init1.mp4", "arch/s/video/seg3.m4s"} {
		if _, err := os.Stat(srv.Object("media", key)); err != nil {
			t.Errorf("bucket object %s: %v", key, err)
		}
	}
	testenv.Eventually(t, 10*time.Second, "index copied to the bucket", func() bool {
		_, err := os.Stat(srv.Object("media", "arch/s/archive-index.jsonl"))
		return err == nil
	})
	for i, w := range want {
		b, err := a.Open(context.Background(), "s", "video", live.SegmentName(int64(i)))
		if err != nil || !bytes.Equal(b, w) {
			t.Errorf("segment %d from S3: %d bytes, %v", i, len(b), err)
		}
	}
	a.Close()
}

// TestS3Outage stops the S3 server for 10 s while segments keep coming: the
// live path never waits (Add returns at once), replay reads the spool
// meanwhile, and the uploader catches up with no gap once S3 is back.
func TestS3Outage(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s outage")
	}
	srv := testenv.StartS3(t)
	a := s3Archive(t, srv, t.TempDir(), nil)
	defer a.Close()
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Hour))
	f.segment(20000, false)
	flush(t, a)
	testenv.Eventually(t, 20*time.Second, "first upload", func() bool { return a.Pending() == 0 })

	srv.Stop()
	outage := time.Now()
	var slowest time.Duration
	for time.Since(outage) < 10*time.Second {
		start := time.Now()
		f.segment(20000, false) // one completed segment on the live path
		slowest = max(slowest, time.Since(start))
		time.Sleep(200 * time.Millisecond) // a fast stream: 5 segments a second
	}
	if slowest > 100*time.Millisecond {
		t.Errorf("live path waited %v for a segment during the outage", slowest)
	}
	flush(t, a)
	pending := a.Pending()
	if pending == 0 {
		t.Fatal("nothing pending during the outage: was S3 really down?")
	}
	// Replay still has every segment, from the spool.
	if _, err := a.Open(context.Background(), "s", "video", live.SegmentName(f.msn-1)); err != nil {
		t.Fatalf("newest segment during the outage: %v", err)
	}
	srv.Start()
	back := time.Now()
	testenv.Eventually(t, 60*time.Second, "uploads caught up", func() bool { return a.Pending() == 0 })
	t.Logf("S3 catch-up: %d files pending after a 10 s outage uploaded %v after S3 came back (slowest live-path add %v)",
		pending, time.Since(back).Round(time.Millisecond), slowest)
	for m := int64(0); m < f.msn; m++ {
		if _, err := os.Stat(srv.Object("media", "arch/s/video/"+live.SegmentName(m))); err != nil {
			t.Errorf("gap: %s not in the bucket: %v", live.SegmentName(m), err)
		}
	}
}

// TestS3SpoolRestart: files left in the spool by a stopped origin are
// uploaded by the next one.
func TestS3SpoolRestart(t *testing.T) {
	srv := testenv.StartS3(t)
	spool := t.TempDir()
	srv.Stop()
	a := s3Archive(t, srv, spool, nil)
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Minute))
	for range 3 {
		f.segment(1000, false)
	}
	flush(t, a)
	a.Close()
	srv.Start()
	a = s3Archive(t, srv, spool, nil)
	defer a.Close()
	testenv.Eventually(t, 20*time.Second, "spool from the last run uploaded", func() bool { return a.Pending() == 0 })
	for _, key := range []string{"arch/s/video/init1.mp4", "arch/s/video/seg0.m4s", "arch/s/video/seg2.m4s"} {
		if _, err := os.Stat(srv.Object("media", key)); err != nil {
			t.Errorf("bucket object %s: %v", key, err)
		}
	}
}

// TestS3SpoolBound: with S3 down, the spool never grows past its bound.
func TestS3SpoolBound(t *testing.T) {
	srv := testenv.StartS3(t)
	srv.Stop()
	spool := t.TempDir()
	a := s3Archive(t, srv, spool, func(c *archive.Config) { c.SpoolMax = 10_000 })
	defer a.Close()
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Minute))
	for range 10 {
		f.segment(3000, false)
	}
	flush(t, a)
	if n := a.Pending(); n > 5 {
		t.Errorf("%d files pending with a 10 kB spool of 3 kB segments", n)
	}
}

// TestS3Retention: retention removes the oldest segments from the bucket too.
func TestS3Retention(t *testing.T) {
	srv := testenv.StartS3(t)
	a := s3Archive(t, srv, t.TempDir(), func(c *archive.Config) { c.MaxSize, c.PruneEvery = 2500, 20*time.Millisecond })
	defer a.Close()
	f := newFeeder(a, "s", 1, 0, time.Now().Add(-time.Hour))
	for range 5 {
		f.segment(1000, false)
	}
	flush(t, a)
	testenv.Eventually(t, 20*time.Second, "old segments deleted from the bucket", func() bool {
		_, err0 := os.Stat(srv.Object("media", "arch/s/video/seg0.m4s"))
		_, err2 := os.Stat(srv.Object("media", "arch/s/video/seg2.m4s"))
		_, err4 := os.Stat(srv.Object("media", "arch/s/video/seg4.m4s"))
		return os.IsNotExist(err0) && os.IsNotExist(err2) && err4 == nil && a.Pending() == 0
	})
	if n := len(a.Index("s").Rendition("video").Segments); n != 2 {
		t.Errorf("%d segments indexed after retention, want 2", n)
	}
}
