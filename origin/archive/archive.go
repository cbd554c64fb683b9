package archive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/origin/live"
)

// ErrNotFound means the archive does not hold the object.
var ErrNotFound = errors.New("not in the archive")

// Config holds the archive's tunables; DefaultConfig documents the defaults.
type Config struct {
	// Dir is the local directory: the index of each stream, and either the
	// media itself (no Backend) or the upload spool (with a Backend).
	Dir string
	// Backend, when set, is where media finally lives (an S3 bucket).
	Backend Backend
	// Retention drops segments older than this; 0 keeps them forever.
	Retention time.Duration
	// MaxSize drops a stream's oldest segments once its archive is larger
	// (bytes); 0 means no limit.
	MaxSize int64
	// SpoolMax bounds the bytes waiting for upload. Beyond it the oldest
	// waiting segments are dropped (and counted): the live path must never
	// wait on the bucket, and the disk must not fill during a long outage.
	SpoolMax int64
	// Queue is how many completed segments may wait for the local write.
	Queue int
	// PruneEvery is how often retention runs.
	PruneEvery time.Duration
	// Logger receives archive logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the archive metrics; none when nil.
	Registerer prometheus.Registerer
}

// DefaultConfig keeps everything forever on local disk, with a 1 GiB spool.
func DefaultConfig() Config {
	return Config{SpoolMax: 1 << 30, Queue: 1024, PruneEvery: 30 * time.Second}
}

// Archive writes completed segments and serves them back.
type Archive struct {
	cfg  Config
	log  *slog.Logger
	m    *metrics
	jobs chan live.Completed
	// unwritten counts segments added but not yet written (queued or in hand).
	unwritten atomic.Int64
	up        *uploader // nil without a Backend

	mu      sync.RWMutex
	streams map[string]*Index

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	deletes   sync.WaitGroup // bucket deletes in flight
	deleteMu  sync.Mutex     // one bucket delete at a time
}

// New loads every stream's index under cfg.Dir and starts the writer (and the
// uploader, with a Backend). Close stops them after the queue is written.
func New(cfg Config) (*Archive, error) {
	d := DefaultConfig()
	if cfg.Dir == "" {
		return nil, errors.New("archive: no directory")
	}
	if cfg.Queue <= 0 {
		cfg.Queue = d.Queue
	}
	if cfg.SpoolMax <= 0 {
		cfg.SpoolMax = d.SpoolMax
	}
	if cfg.PruneEvery <= 0 {
		cfg.PruneEvery = d.PruneEvery
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Archive{cfg: cfg, log: log, m: newMetrics(cfg.Registerer), jobs: make(chan live.Completed, cfg.Queue),
		streams: map[string]*Index{}, stop: cancel, done: make(chan struct{})}
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		cancel()
		return nil, err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		x, err := loadIndex(a.indexPath(e.Name()), e.Name())
		if err != nil {
			cancel()
			return nil, err
		}
		if len(x.Renditions) > 0 {
			a.streams[e.Name()] = x
		}
	}
	if cfg.Backend != nil {
		a.up = newUploader(a)
		if err := a.up.recover(); err != nil {
			cancel()
			return nil, err
		}
		go a.up.run(ctx)
	}
	go a.run(ctx)
	return a, nil
}

// Close (idempotent) writes what is queued, stops the writer and the uploader (files not
// yet uploaded stay in the spool for the next start) and returns.
func (a *Archive) Close() {
	a.closeOnce.Do(func() {
		close(a.jobs)
		<-a.done
		a.deletes.Wait()
		a.stop()
		if a.up != nil {
			<-a.up.done
		}
	})
}

// Add queues a completed segment for writing; it is Registry.OnSegment. It
// blocks only if the local disk is slower than the live streams.
func (a *Archive) Add(c live.Completed) {
	a.m.queued.Inc()
	a.unwritten.Add(1)
	a.jobs <- c
}

func (a *Archive) streamDir(stream string) string { return filepath.Join(a.cfg.Dir, stream) }
func (a *Archive) indexPath(stream string) string {
	return filepath.Join(a.cfg.Dir, stream, "archive-index.jsonl")
}

// mediaPath is where a media file lives locally (final, or spooled).
func (a *Archive) mediaPath(stream, rendition, name string) string {
	return filepath.Join(a.cfg.Dir, stream, "media", rendition, name)
}

// Key is the bucket key of a media object (below the backend's prefix).
func Key(stream, rendition, name string) string { return stream + "/" + rendition + "/" + name }

// run is the writer: the only goroutine that writes media files and indexes.
func (a *Archive) run(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.cfg.PruneEvery)
	defer t.Stop()
	a.prune(time.Now())
	for {
		select {
		case c, ok := <-a.jobs:
			if !ok {
				return
			}
			// Group commit: whatever else is queued goes into the same
			// index append and fsync, so a burst (many renditions finishing
			// together, or a slow disk) costs one fsync, not one each.
			batch := []live.Completed{c}
		more:
			for len(batch) < 64 {
				select {
				case c, ok := <-a.jobs:
					if !ok {
						break more
					}
					batch = append(batch, c)
				default:
					break more
				}
			}
			start := time.Now()
			a.writeBatch(batch)
			a.m.writeSeconds.Observe(time.Since(start).Seconds())
			a.m.queued.Sub(float64(len(batch)))
			a.unwritten.Add(-int64(len(batch)))
		case now := <-t.C:
			a.prune(now)
		}
	}
}

// writeBatch stores the init sections (once per session) and segments, then
// appends their records to each stream's index and fsyncs it: a record is
// only ever written after the file it names is in place.
func (a *Archive) writeBatch(batch []live.Completed) {
	type initKey struct {
		stream, rendition string
		session           int
	}
	written := map[initKey]bool{}
	recs := map[string][]Record{}
	var order []string
	for _, c := range batch {
		k := initKey{c.Stream, c.Rendition, c.Segment.Session}
		rs, err := a.writeMedia(c, !written[k])
		if err != nil {
			a.m.errors.Inc()
			a.log.Error("archive write", "stream", c.Stream, "rendition", c.Rendition, "msn", c.Segment.MSN, "err", err)
			continue
		}
		if len(rs) > 0 {
			written[k] = true
		}
		if _, ok := recs[c.Stream]; !ok {
			order = append(order, c.Stream)
		}
		recs[c.Stream] = append(recs[c.Stream], rs...)
	}
	for _, stream := range order {
		if len(recs[stream]) == 0 {
			continue
		}
		if err := a.appendIndex(stream, recs[stream]); err != nil {
			a.m.errors.Inc()
			a.log.Error("archive index append", "stream", stream, "err", err)
			continue
		}
		a.mu.Lock()
		if a.streams[stream] == nil {
			a.streams[stream] = &Index{Stream: stream}
		}
		for _, r := range recs[stream] {
			if a.streams[stream].add(r) && r.Kind == KindSegment {
				a.m.segments.Inc()
				a.m.bytes.Add(float64(r.Size))
			}
		}
		a.mu.Unlock()
	}
}

// writeMedia writes the segment's file (and its init section's, when this
// batch has not yet and the index lacks it) and returns the records to index.
func (a *Archive) writeMedia(c live.Completed, mayNeedInit bool) ([]Record, error) {
	a.mu.RLock()
	needInit := mayNeedInit
	if x := a.streams[c.Stream]; x != nil {
		if r := x.Rendition(c.Rendition); r != nil {
			if r.Inits[c.Segment.Session] {
				needInit = false
			}
			if n := len(r.Segments); n > 0 && r.Segments[n-1].MSN >= c.Segment.MSN {
				a.mu.RUnlock()
				return nil, nil // already archived
			}
		}
	}
	a.mu.RUnlock()
	var recs []Record
	if needInit {
		if c.Init == nil {
			return nil, fmt.Errorf("no init section for session %d", c.Segment.Session)
		}
		if err := a.writeFile(c.Stream, c.Rendition, live.InitName(c.Segment.Session), c.Init); err != nil {
			return nil, err
		}
		info := c.Info
		recs = append(recs, Record{Kind: KindInit, Rendition: c.Rendition, Session: c.Segment.Session,
			Video: c.Video, Timescale: c.Timescale, Info: &info})
	}
	s := c.Segment
	data := s.Data()
	if err := a.writeFile(c.Stream, c.Rendition, live.SegmentName(s.MSN), data); err != nil {
		return nil, err
	}
	recs = append(recs, Record{Kind: KindSegment, Rendition: c.Rendition, Session: s.Session, MSN: s.MSN,
		Disc: s.Discontinuity, DiscSeq: s.DiscSeq, Start: s.Start, PDT: s.PDT.UTC(), Duration: s.Duration, Size: len(data)})
	return recs, nil
}

// writeFile writes a media file atomically (temporary file, then rename) and
// queues it for upload when there is a backend.
func (a *Archive) writeFile(stream, rendition, name string, data []byte) error {
	p := a.mediaPath(stream, rendition, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if a.up != nil {
		a.up.enqueue(upload{stream: stream, rendition: rendition, name: name, size: int64(len(data))})
	}
	return nil
}

// writeSynced writes b to f, syncs and closes it: an index line or file
// that was acknowledged is on disk. The first error wins; f is closed either way.
func writeSynced(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func (a *Archive) appendIndex(stream string, recs []Record) error {
	p := a.indexPath(stream)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	return writeSynced(f, marshalRecords(recs))
}

// Index returns a copy of a stream's archive index, or nil.
func (a *Archive) Index(stream string) *Index {
	a.mu.RLock()
	defer a.mu.RUnlock()
	x := a.streams[stream]
	if x == nil {
		return nil
	}
	return x.clone()
}

// Open returns an archived init section or segment: from the local disk (or
// spool) when it is there, else from the backend.
func (a *Archive) Open(ctx context.Context, stream, rendition, name string) ([]byte, error) {
	b, err := os.ReadFile(a.mediaPath(stream, rendition, name))
	if err == nil {
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if a.cfg.Backend == nil {
		return nil, ErrNotFound
	}
	return a.cfg.Backend.Get(ctx, Key(stream, rendition, name))
}

// Pending returns the number of files waiting for upload (0 without a backend).
func (a *Archive) Pending() int {
	if a.up == nil {
		return 0
	}
	return a.up.pending()
}

// Flush waits until every queued segment is written locally, or ctx ends.
func (a *Archive) Flush(ctx context.Context) error {
	for a.unwritten.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
