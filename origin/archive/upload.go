package archive

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// upload is one spooled file waiting for the backend.
type upload struct {
	stream, rendition, name string
	size                    int64
}

// uploader copies spooled files to the backend in order, retrying with
// backoff while it fails, and removes each local copy once it is stored.
type uploader struct {
	a    *Archive
	done chan struct{}

	mu    sync.Mutex
	queue []upload
	bytes int64
	wake  chan struct{}
	dirty map[string]bool // streams whose index changed since its last upload
}

func newUploader(a *Archive) *uploader {
	return &uploader{a: a, done: make(chan struct{}), wake: make(chan struct{}, 1), dirty: map[string]bool{}}
}

// recover queues the files a previous process left in the spool.
func (u *uploader) recover() error {
	streams, err := os.ReadDir(u.a.cfg.Dir)
	if err != nil {
		return err
	}
	for _, s := range streams {
		rends, _ := os.ReadDir(filepath.Join(u.a.cfg.Dir, s.Name(), "media"))
		for _, r := range rends {
			files, _ := os.ReadDir(filepath.Join(u.a.cfg.Dir, s.Name(), "media", r.Name()))
			// Inits sort before segments, and segments by number, so order holds.
			var inits, segs []upload
			for _, f := range files {
				info, err := f.Info()
				if err != nil || strings.HasSuffix(f.Name(), ".tmp") {
					continue
				}
				up := upload{stream: s.Name(), rendition: r.Name(), name: f.Name(), size: info.Size()}
				if strings.HasPrefix(f.Name(), "init") {
					inits = append(inits, up)
				} else {
					segs = append(segs, up)
				}
			}
			for _, up := range append(inits, segs...) {
				u.enqueue(up)
			}
		}
		u.dirty[s.Name()] = true
	}
	return nil
}

// enqueue adds a file; past SpoolMax the oldest waiting segments are dropped.
func (u *uploader) enqueue(up upload) {
	u.mu.Lock()
	u.queue = append(u.queue, up)
	u.bytes += up.size
	u.dirty[up.stream] = true
	for u.bytes > u.a.cfg.SpoolMax && len(u.queue) > 1 {
		drop := -1
		for i, q := range u.queue[1:] { // [0] may be uploading right now
			if !strings.HasPrefix(q.name, "init") {
				drop = i + 1
				break
			}
		}
		if drop < 0 {
			break
		}
		q := u.queue[drop]
		u.queue = append(u.queue[:drop], u.queue[drop+1:]...)
		u.bytes -= q.size
		_ = os.Remove(u.a.mediaPath(q.stream, q.rendition, q.name))
		u.a.m.dropped.Inc()
		u.a.log.Warn("archive spool full: dropped a segment that was never uploaded",
			"stream", q.stream, "rendition", q.rendition, "name", q.name)
	}
	u.a.m.pending.Set(float64(len(u.queue)))
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
}

func (u *uploader) pending() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.queue)
}

func (u *uploader) run(ctx context.Context) {
	defer close(u.done)
	backoff := 100 * time.Millisecond
	indexTick := time.NewTicker(2 * time.Second)
	defer indexTick.Stop()
	for {
		u.mu.Lock()
		var next *upload
		if len(u.queue) > 0 {
			q := u.queue[0]
			next = &q
		}
		u.mu.Unlock()
		if next == nil {
			select {
			case <-ctx.Done():
				return
			case <-u.wake:
			case <-indexTick.C:
				u.putIndexes(ctx)
			}
			continue
		}
		err := u.put(ctx, *next)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			u.a.m.uploadErrors.Inc()
			u.a.log.Warn("archive upload failed; retrying", "key", Key(next.stream, next.rendition, next.name),
				"in", backoff, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second) // short: catch-up after an outage waits at most this
			continue
		}
		backoff = 100 * time.Millisecond
		u.mu.Lock()
		if len(u.queue) > 0 && u.queue[0] == *next {
			u.queue = u.queue[1:]
			u.bytes -= next.size
		}
		u.a.m.pending.Set(float64(len(u.queue)))
		empty := len(u.queue) == 0
		u.mu.Unlock()
		if empty {
			u.putIndexes(ctx)
		}
	}
}

// put uploads one file and removes the local copy.
func (u *uploader) put(ctx context.Context, up upload) error {
	p := u.a.mediaPath(up.stream, up.rendition, up.name)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // pruned meanwhile
	}
	if err != nil {
		return err
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := u.a.cfg.Backend.Put(cctx, Key(up.stream, up.rendition, up.name), data); err != nil {
		return err
	}
	u.a.m.uploadSeconds.Observe(time.Since(start).Seconds())
	u.a.m.uploaded.Inc()
	return os.Remove(p)
}

// putIndexes copies changed stream indexes to the bucket, so the bucket alone
// describes what it holds; the local index stays the one replay reads.
func (u *uploader) putIndexes(ctx context.Context) {
	u.mu.Lock()
	streams := make([]string, 0, len(u.dirty))
	for s := range u.dirty {
		streams = append(streams, s)
	}
	clear(u.dirty)
	u.mu.Unlock()
	for _, s := range streams {
		b, err := os.ReadFile(u.a.indexPath(s))
		if err != nil {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = u.a.cfg.Backend.Put(cctx, s+"/archive-index.jsonl", b)
		cancel()
		if err != nil {
			u.mu.Lock()
			u.dirty[s] = true
			u.mu.Unlock()
		}
	}
}
