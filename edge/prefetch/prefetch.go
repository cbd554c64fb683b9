// Package prefetch fetches what viewers are about to ask for: the segments,
// parts and preload-hinted part a media playlist newly names, and the object
// a player announces with CMCD nor. It is bounded (concurrency and
// outstanding bytes) so that it never crowds out viewer requests.
package prefetch

import (
	"context"
	"path"
	"strings"
	"sync"
	"sync/atomic"
)

// Fetch brings path into the cache and returns its size once complete. It
// must go through the same cache and coalescing as viewer requests.
type Fetch func(ctx context.Context, path string) (int64, error)

// Config bounds the prefetcher.
type Config struct {
	// Concurrency is how many prefetches run at once; offers beyond it are dropped.
	Concurrency int
	// MaxBytes caps the bytes prefetched but not yet served to anyone.
	MaxBytes int64
	// FirstSight is how many of the newest objects are fetched the first time a
	// playlist is seen (the older ones are likely cached or not needed).
	FirstSight int
}

// Stats counts what the prefetcher did.
type Stats struct {
	Prefetched, Dropped, Failed atomic.Int64
}

// Prefetcher runs prefetches in the background.
type Prefetcher struct {
	cfg   Config
	fetch Fetch
	sem   chan struct{}
	// Stats are exported for the edge's metrics.
	Stats Stats

	outstanding atomic.Int64 // prefetched bytes nobody has asked for yet

	mu   sync.Mutex
	seen map[string]map[string]bool // playlist path → URIs it named last time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a prefetcher that uses fetch.
func New(cfg Config, fetch Fetch) *Prefetcher {
	if cfg.FirstSight <= 0 {
		cfg.FirstSight = 3
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Prefetcher{cfg: cfg, fetch: fetch, sem: make(chan struct{}, max(cfg.Concurrency, 1)),
		seen: map[string]map[string]bool{}, ctx: ctx, cancel: cancel}
}

// Offer starts a prefetch of p unless the bounds say no; it never blocks.
func (f *Prefetcher) Offer(p string) bool {
	if f.cfg.Concurrency <= 0 || (f.cfg.MaxBytes > 0 && f.outstanding.Load() >= f.cfg.MaxBytes) {
		f.Stats.Dropped.Add(1)
		return false
	}
	select {
	case f.sem <- struct{}{}:
	default:
		f.Stats.Dropped.Add(1)
		return false
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		defer func() { <-f.sem }()
		n, err := f.fetch(f.ctx, p)
		if err != nil {
			f.Stats.Failed.Add(1)
			return
		}
		f.Stats.Prefetched.Add(1)
		f.outstanding.Add(n)
	}()
	return true
}

// Served tells the prefetcher that a prefetched object of size n was served
// (or evicted unused): its bytes no longer count against MaxBytes.
func (f *Prefetcher) Served(n int64) { f.outstanding.Add(-n) }

// Playlist looks at a media playlist that passed through the edge and
// prefetches the objects it names for the first time.
func (f *Prefetcher) Playlist(playlistPath string, body []byte) {
	uris := MediaURIs(body)
	if len(uris) == 0 {
		return
	}
	dir := path.Dir(playlistPath)
	now := make(map[string]bool, len(uris))
	for _, u := range uris {
		now[u] = true
	}
	f.mu.Lock()
	before, known := f.seen[playlistPath]
	f.seen[playlistPath] = now
	if len(f.seen) > 10000 { // a bound against unbounded growth across many streams
		clear(f.seen)
	}
	f.mu.Unlock()
	start := 0
	if !known {
		start = max(len(uris)-f.cfg.FirstSight, 0)
	}
	for _, u := range uris[start:] {
		if before[u] {
			continue
		}
		if p, ok := resolve(dir, u); ok {
			f.Offer(p)
		}
	}
}

// Close stops running prefetches and waits for them.
func (f *Prefetcher) Close() {
	f.cancel()
	f.wg.Wait()
}

// MediaURIs lists, in playlist order, the media a media playlist names:
// EXT-X-MAP, EXT-X-PART and EXT-X-PRELOAD-HINT URIs and segment URI lines.
// Other playlists (rendition reports, EXT-X-MEDIA) are not media and are skipped.
func MediaURIs(body []byte) []string {
	var out []string
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case !strings.HasPrefix(line, "#"):
			if !strings.HasSuffix(strings.SplitN(line, "?", 2)[0], ".m3u8") {
				out = append(out, line)
			}
		case strings.HasPrefix(line, "#EXT-X-MAP:"), strings.HasPrefix(line, "#EXT-X-PART:"),
			strings.HasPrefix(line, "#EXT-X-PRELOAD-HINT:"):
			if u, ok := attr(line, "URI"); ok {
				out = append(out, u)
			}
		}
	}
	return out
}

// attr returns a quoted attribute of a tag line.
func attr(line, name string) (string, bool) {
	i := strings.Index(line, name+`="`)
	for i > 0 && line[i-1] != ':' && line[i-1] != ',' { // a longer attribute name ending in name
		j := strings.Index(line[i+1:], name+`="`)
		if j < 0 {
			return "", false
		}
		i += 1 + j
	}
	if i < 0 {
		return "", false
	}
	rest := line[i+len(name)+2:]
	end := strings.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	return rest[:end], true
}

// resolve turns a playlist-relative URI into an absolute path on this host;
// absolute URLs to other hosts and anything climbing out are refused.
func resolve(dir, u string) (string, bool) {
	if strings.Contains(u, "://") || strings.HasPrefix(u, "//") || strings.Contains(u, "..") {
		return "", false
	}
	if strings.HasPrefix(u, "/") {
		return u, true
	}
	return path.Join(dir, u), true
}

// CMCDNext returns the next-object path a player announced with CMCD `nor`
// (CTA-5004), from the CMCD query parameter or the CMCD-Request header,
// resolved against the request path; ok is false when there is none.
func CMCDNext(requestPath, cmcdQuery, cmcdHeader string) (string, bool) {
	for _, src := range []string{cmcdQuery, cmcdHeader} {
		for _, kv := range splitCMCD(src) {
			k, v, found := strings.Cut(kv, "=")
			if !found || strings.TrimSpace(k) != "nor" {
				continue
			}
			v = strings.TrimSpace(v)
			if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
				continue
			}
			return resolve(path.Dir(requestPath), v[1:len(v)-1])
		}
	}
	return "", false
}

// splitCMCD splits a CMCD key list on commas outside quoted strings.
func splitCMCD(s string) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
