package edge

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/livecdn/livecdn/edge/cache"
	"github.com/livecdn/livecdn/edge/coalesce"
	"github.com/livecdn/livecdn/edge/follow"
	"github.com/livecdn/livecdn/edge/rules"
	"github.com/livecdn/livecdn/edge/upstream"
)

// chunk is how much of an upstream body is read at once: small enough that
// viewers of a growing part see bytes promptly, large enough to be cheap.
const chunk = 32 << 10

// fetcher returns the coalesce.Fetch that fills an object from the upstream
// and files it in the cache by the rules.
func (s *Server) fetcher(path, query string, kind rules.Kind, reason string, l leg) coalesce.Fetch {
	return func(ctx context.Context, o *cache.Object) {
		s.metrics.fetches.WithLabelValues(reason).Inc()
		resp, err := l.up.Fetch(ctx, &upstream.Request{Path: path, Query: rules.UpstreamQuery(path, query, s.cfg.KeepQuery),
			Header: http.Header{"Via": {l.via}}, Hop: l.hop})
		if err != nil {
			o.Finish(err)
			return
		}
		defer resp.Body.Close()
		h := http.Header{}
		for _, name := range storedHeaders {
			if v := resp.Header.Get(name); v != "" {
				h.Set(name, v)
			}
		}
		if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil {
			o.Reserve(n)
		}
		o.SetHeader(resp.Status, h)
		// A prefetch means a viewer is about to ask: admit it as hot. A 404
		// from a peer was already cached there for the 404 TTL; caching it
		// here too would stack the TTLs past a part's duration.
		admitted := (!resp.Peer || reason == "prefetch" || s.admit(kind, o.Key)) &&
			!(resp.Peer && resp.Status == http.StatusNotFound)
		// Immutable media goes into the cache at once, so later viewers find
		// it there and read it while it still arrives.
		ttl, cacheable := s.cfg.Policy.Freshness(kind, resp.Status, h, nil)
		early := cacheable && admitted && kind == rules.Media && ttl == 0
		if early {
			s.cache.Add(o)
		}
		buf := make([]byte, chunk)
		for {
			n, rerr := resp.Body.Read(buf)
			if n > 0 {
				o.Append(buf[:n])
				if early {
					s.cache.Recount(o) // a growing segment counts against the budget as it grows
				}
			}
			if errors.Is(rerr, io.EOF) {
				break
			}
			if rerr != nil {
				o.Finish(rerr)
				s.cache.RemoveObject(o)
				return
			}
		}
		o.Finish(nil)
		if kind == rules.Media {
			o.Seal() // hits now go out by sendfile from a memory file
		}
		if !early {
			ttl, cacheable = s.cfg.Policy.Freshness(kind, resp.Status, h, o.Body())
			if !cacheable || !admitted {
				return
			}
			now := time.Now()
			fresh := time.Time{}
			if ttl > 0 {
				fresh = now.Add(ttl)
			}
			staleUntil := fresh
			if kind == rules.Playlist || kind == rules.MPD {
				staleUntil = fresh.Add(s.cfg.Policy.StaleIfError)
			}
			o.SetExpiry(fresh, staleUntil)
			s.cache.Add(o)
		}
		s.cache.Recount(o)
		// Playlists fetched for a peer are the peer's to prefetch from.
		if kind == rules.Playlist && resp.Status == http.StatusOK && l.hop == 0 {
			s.prefetch.Playlist(path, o.Body())
		}
	}
}

// prefetchFetch brings a media object into the cache ahead of viewers.
func (s *Server) prefetchFetch(ctx context.Context, path string) (int64, error) {
	key := rules.Key(path, "", s.cfg.KeepQuery)
	if o, ok := s.cache.Peek(key); ok {
		if done, err := o.Done(); done && err == nil {
			return 0, nil // already here: nothing new is outstanding
		}
	}
	l := s.legFor(path, 0, nil)
	o, leader := l.flights.Do(key, s.fetcher(path, "", rules.Classify(path), "prefetch", l))
	if leader {
		o.MarkPrefetched()
	}
	n, err := o.WaitDone(ctx)
	if err != nil || !leader {
		return 0, err
	}
	return int64(n), nil
}

// prefetchSnapshot offers the objects of a follower's playlist once per
// snapshot: 2,000 held viewers released by one snapshot cause one scan of it.
func (s *Server) prefetchSnapshot(path string, snap *follow.Snapshot) {
	if prev, ok := s.scanned.Load(path); ok && prev == snap {
		return
	}
	s.scanned.Store(path, snap)
	s.prefetch.Playlist(path, snap.Body)
}
