package archive

import (
	"context"
	"os"
	"time"

	"github.com/livecdn/livecdn/origin/live"
)

// prune applies retention by age and by size to every stream, on the writer
// goroutine so no append races the index rewrite.
func (a *Archive) prune(now time.Time) {
	if a.cfg.Retention <= 0 && a.cfg.MaxSize <= 0 {
		return
	}
	a.mu.RLock()
	names := make([]string, 0, len(a.streams))
	for n := range a.streams {
		names = append(names, n)
	}
	a.mu.RUnlock()
	for _, n := range names {
		if err := a.pruneStream(n, now); err != nil {
			a.log.Error("archive retention", "stream", n, "err", err)
		}
	}
}

func (a *Archive) pruneStream(stream string, now time.Time) error {
	a.mu.RLock()
	x := a.streams[stream].clone()
	a.mu.RUnlock()
	type victim struct {
		r   *Rendition
		rec Record
	}
	var drop []victim
	// Oldest first across renditions: walk each rendition's head while it is too old or too big.
	size := x.Bytes
	for {
		var oldest *Rendition
		for _, r := range x.Renditions {
			if len(r.Segments) > 0 && (oldest == nil || r.Segments[0].PDT.Before(oldest.Segments[0].PDT)) {
				oldest = r
			}
		}
		if oldest == nil {
			break
		}
		rec := oldest.Segments[0]
		tooOld := a.cfg.Retention > 0 && now.Sub(rec.End(oldest.Timescale)) > a.cfg.Retention
		tooBig := a.cfg.MaxSize > 0 && size > a.cfg.MaxSize
		if !tooOld && !tooBig {
			break
		}
		drop = append(drop, victim{oldest, rec})
		oldest.Segments = oldest.Segments[1:]
		size -= int64(rec.Size)
	}
	if len(drop) == 0 {
		return nil
	}
	// The index is rewritten first: a crash after it leaves orphan files
	// (harmless), never an index naming a deleted file.
	var recs []Record
	for _, r := range x.Renditions {
		used := map[int]bool{}
		for _, s := range r.Segments {
			used[s.Session] = true
		}
		info := r.Info
		for s := range r.Inits {
			if used[s] {
				recs = append(recs, Record{Kind: KindInit, Rendition: r.Name, Session: s, Video: r.Video, Timescale: r.Timescale, Info: &info})
			} else {
				delete(r.Inits, s)
				a.removeMedia(stream, r.Name, live.InitName(s))
			}
		}
		recs = append(recs, r.Segments...)
	}
	p := a.indexPath(stream)
	tmp := p + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := writeSynced(f, marshalRecords(recs)); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	x.Bytes = size
	a.mu.Lock()
	a.streams[stream] = x
	a.mu.Unlock()
	for _, v := range drop {
		a.removeMedia(stream, v.r.Name, live.SegmentName(v.rec.MSN))
		a.m.pruned.Inc()
	}
	return nil
}

func (a *Archive) removeMedia(stream, rendition, name string) {
	_ = os.Remove(a.mediaPath(stream, rendition, name))
	if a.cfg.Backend == nil {
		return
	}
	// Bucket deletes run beside the writer: a slow or unreachable bucket
	// must not hold segment writes. One at a time, in order; Close waits.
	key := Key(stream, rendition, name)
	a.deletes.Add(1)
	go func() {
		defer a.deletes.Done()
		a.deleteMu.Lock()
		defer a.deleteMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.cfg.Backend.Delete(ctx, key); err != nil {
			a.log.Warn("archive retention: delete from bucket", "key", key, "err", err)
		}
	}()
}
