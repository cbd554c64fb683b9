package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/internal/config"
	"github.com/livecdn/livecdn/origin/archive"
)

// archiveFlags are the archive and replay flags of `livecdn origin`.
type archiveFlags struct {
	spool, s3Endpoint, s3AccessKey, s3SecretKey, s3Region string
	retention, replayMax, clipMax, rewind                 time.Duration
	maxSize, spoolMax                                     config.Size
}

func (f *archiveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.spool, "archive-spool", "./archive-spool", "with --archive s3://…: local directory for stream counters, the index and the upload spool")
	fs.Var(&f.spoolMax, "archive-spool-max", "with --archive s3://…: bytes waiting for upload before the oldest are dropped")
	fs.DurationVar(&f.retention, "archive-retention", 0, "drop archived segments older than this (0: keep forever)")
	fs.Var(&f.maxSize, "archive-max-size", "per stream, drop the oldest archived segments beyond this size (0: no limit)")
	fs.StringVar(&f.s3Endpoint, "s3-endpoint", "", "S3 endpoint host:port or http(s)://host:port (default $AWS_ENDPOINT_URL, else AWS)")
	fs.StringVar(&f.s3AccessKey, "s3-access-key", "", "S3 access key (default $AWS_ACCESS_KEY_ID)")
	fs.StringVar(&f.s3SecretKey, "s3-secret-key", "", "S3 secret key (default $AWS_SECRET_ACCESS_KEY)")
	fs.StringVar(&f.s3Region, "s3-region", "", "S3 region (default $AWS_REGION)")
	fs.DurationVar(&f.replayMax, "replay-max", 24*time.Hour, "longest range one replay playlist may cover")
	fs.DurationVar(&f.clipMax, "clip-max", time.Hour, "longest range one clip may cover")
	fs.DurationVar(&f.rewind, "rewind", 10*time.Minute, "archived media the live DASH MPD lists before its window (timeShiftBufferDepth); 0: the window only")
	f.spoolMax = 1 << 30
}

func (f *archiveFlags) validate(dir string) error {
	switch {
	case f.retention < 0:
		return usageError{fmt.Errorf("--archive-retention %v: want 0 or more", f.retention)}
	case f.replayMax < time.Minute:
		return usageError{fmt.Errorf("--replay-max %v: want at least 1m", f.replayMax)}
	case f.clipMax < time.Second || f.clipMax > 24*time.Hour:
		return usageError{fmt.Errorf("--clip-max %v: want 1s to 24h", f.clipMax)}
	case f.rewind < 0 || f.rewind > 24*time.Hour:
		return usageError{fmt.Errorf("--rewind %v: want 0 to 24h", f.rewind)}
	case f.spoolMax < 1<<20:
		return usageError{fmt.Errorf("--archive-spool-max %v: want at least 1MiB", f.spoolMax.String())}
	}
	if strings.HasPrefix(dir, "s3:") {
		if _, _, err := archive.ParseS3URL(dir); err != nil {
			return usageError{fmt.Errorf("--archive: %v", err)}
		}
		if f.spool == "" {
			return usageError{fmt.Errorf("--archive-spool: needed with an s3:// archive")}
		}
	}
	return nil
}

func envOr(v, name string) string {
	if v != "" {
		return v
	}
	return os.Getenv(name)
}

// openArchive returns the archive for --archive (nil when it is empty) and
// the directory for the stream counters.
func openArchive(dir string, f archiveFlags, log *slog.Logger, reg prometheus.Registerer) (*archive.Archive, string, error) {
	if dir == "" {
		return nil, "", nil
	}
	cfg := archive.DefaultConfig()
	cfg.Dir, cfg.Retention, cfg.MaxSize, cfg.SpoolMax = dir, f.retention, int64(f.maxSize), int64(f.spoolMax)
	cfg.Logger, cfg.Registerer = log, reg
	if strings.HasPrefix(dir, "s3:") {
		s3, err := archive.NewS3(archive.S3Config{URL: dir,
			Endpoint:  envOr(f.s3Endpoint, "AWS_ENDPOINT_URL"),
			AccessKey: envOr(f.s3AccessKey, "AWS_ACCESS_KEY_ID"), SecretKey: envOr(f.s3SecretKey, "AWS_SECRET_ACCESS_KEY"),
			Region: envOr(f.s3Region, "AWS_REGION")})
		if err != nil {
			return nil, "", usageError{fmt.Errorf("--archive: %v", err)}
		}
		// An unreachable bucket must not stop the origin: uploads wait and retry.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s3.EnsureBucket(ctx); err != nil {
			log.Warn("S3 archive bucket not reachable now; uploads will retry", "archive", dir, "err", err)
		}
		cancel()
		cfg.Dir, cfg.Backend = f.spool, s3
	}
	a, err := archive.New(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("archive: %w", err)
	}
	return a, cfg.Dir, nil
}
