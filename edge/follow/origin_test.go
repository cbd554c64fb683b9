package follow

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/edge/upstream"
)

// llOrigin is a small LL-HLS origin: a generator adds one part every
// partDur; media playlists (any path ending in .m3u8) are rendered with
// gohlslib and blocking reloads are held until the part exists, or answered
// 503 after three target durations, or 400 if _HLS_msn is too far ahead.
type llOrigin struct {
	partDur     time.Duration
	partsPerSeg int
	td          int  // EXT-X-TARGETDURATION, seconds
	noParts     bool // plain HLS: no parts, no blocking reload
	srv         *httptest.Server

	paused atomic.Bool
	stop   chan struct{}
	genWG  sync.WaitGroup

	mu       sync.Mutex
	changed  chan struct{}
	complete int64 // complete segments; the one in progress has this MSN
	trailing int   // parts of the segment in progress
	ended    bool
	status   int // answer every request with this status when non-zero

	// what the origin saw
	requests   int
	blocking   map[string]int // "msn/part" → requests
	held       int            // blocking requests held now
	queries    []string
	followHdrs []string
}

func newOrigin(t *testing.T, partDur time.Duration, noParts bool) *llOrigin {
	t.Helper()
	o := &llOrigin{
		partDur: partDur, partsPerSeg: 4, td: 1, noParts: noParts,
		stop: make(chan struct{}), changed: make(chan struct{}),
		blocking: map[string]int{},
	}
	// Players and gohlslib need one complete segment.
	for range o.partsPerSeg {
		o.advance()
	}
	o.srv = httptest.NewServer(o)
	o.genWG.Add(1)
	go o.generate()
	t.Cleanup(func() {
		close(o.stop)
		o.genWG.Wait()
		o.srv.Close()
	})
	return o
}

func (o *llOrigin) generate() {
	defer o.genWG.Done()
	t := time.NewTicker(o.partDur)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			if !o.paused.Load() {
				o.advance()
			}
		}
	}
}

// advance adds one part; the segment completes with its last part.
func (o *llOrigin) advance() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.trailing++
	if o.trailing == o.partsPerSeg {
		o.complete++
		o.trailing = 0
	}
	close(o.changed)
	o.changed = make(chan struct{})
}

func (o *llOrigin) set(fn func(o *llOrigin)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fn(o)
	close(o.changed)
	o.changed = make(chan struct{})
}

// position is the newest part, as rfc8216bis clients see it.
func (o *llOrigin) position() (msn int64, part int, complete bool) {
	if o.trailing > 0 {
		return o.complete, o.trailing - 1, false
	}
	return o.complete - 1, o.partsPerSeg - 1, true
}

// has is the origin's own reading of rfc8216bis 6.2.5.2 (a later segment,
// or segment msn complete, releases a request for a part of msn).
func (o *llOrigin) has(msn int64, part int) bool {
	last, lastPart, complete := o.position()
	switch {
	case last != msn:
		return last > msn
	case complete:
		return true
	default:
		return part >= 0 && part <= lastPart
	}
}

func (o *llOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, ".m3u8") {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	o.mu.Lock()
	o.requests++
	o.queries = append(o.queries, r.URL.RawQuery)
	o.followHdrs = append(o.followHdrs, r.Header.Get(RequestHeader))
	status := o.status
	o.mu.Unlock()
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if v := q.Get("_HLS_msn"); v != "" {
		msn, _ := strconv.ParseInt(v, 10, 64)
		part := -1
		if p := q.Get("_HLS_part"); p != "" {
			part, _ = strconv.Atoi(p)
		}
		if !o.hold(r.Context(), w, msn, part) {
			return
		}
	}
	o.mu.Lock()
	body := o.render()
	o.mu.Unlock()
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "public, max-age=1")
	_, _ = w.Write(body)
}

// hold holds a blocking request; false when it answered an error.
func (o *llOrigin) hold(ctx context.Context, w http.ResponseWriter, msn int64, part int) bool {
	o.mu.Lock()
	o.blocking[strconv.FormatInt(msn, 10)+"/"+strconv.Itoa(part)]++
	if last, _, _ := o.position(); msn > last+2 {
		o.mu.Unlock()
		http.Error(w, "_HLS_msn too far ahead", http.StatusBadRequest)
		return false
	}
	o.held++
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.held--
		o.mu.Unlock()
	}()
	timeout := time.NewTimer(3 * time.Duration(o.td) * time.Second)
	defer timeout.Stop()
	for {
		o.mu.Lock()
		ok, ch, status := o.has(msn, part) || o.ended, o.changed, o.status
		o.mu.Unlock()
		if status != 0 {
			http.Error(w, http.StatusText(status), status)
			return false
		}
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		case <-timeout.C:
			http.Error(w, "playlist did not advance in time", http.StatusServiceUnavailable)
			return false
		}
	}
}

func (o *llOrigin) render() []byte {
	const window = 6
	segDur := time.Duration(o.partsPerSeg) * o.partDur
	first := max(o.complete-window, 0)
	m := playlist.Media{
		Version:        9,
		TargetDuration: o.td,
		MediaSequence:  int(first),
		Map:            &playlist.MediaMap{URI: "init.mp4"},
		Endlist:        o.ended,
	}
	if o.noParts {
		m.Version = 7
	} else {
		hold := 3 * o.partDur
		m.ServerControl = &playlist.MediaServerControl{CanBlockReload: true, PartHoldBack: &hold}
		m.PartInf = &playlist.MediaPartInf{PartTarget: o.partDur}
	}
	parts := func(msn int64, n int) []*playlist.MediaPart {
		if o.noParts {
			return nil
		}
		out := make([]*playlist.MediaPart, n)
		for i := range out {
			out[i] = &playlist.MediaPart{
				Duration: o.partDur, URI: "part" + strconv.FormatInt(msn, 10) + "." + strconv.Itoa(i) + ".m4s",
				Independent: i == 0,
			}
		}
		return out
	}
	for msn := first; msn < o.complete; msn++ {
		m.Segments = append(m.Segments, &playlist.MediaSegment{
			Duration: segDur, URI: "seg" + strconv.FormatInt(msn, 10) + ".m4s",
			Parts: parts(msn, o.partsPerSeg),
		})
	}
	if !o.noParts && !o.ended {
		m.Parts = parts(o.complete, o.trailing)
		m.PreloadHint = &playlist.MediaPreloadHint{
			URI: "part" + strconv.FormatInt(o.complete, 10) + "." + strconv.Itoa(o.trailing) + ".m4s",
		}
	}
	b, err := m.Marshal()
	if err != nil {
		panic(err)
	}
	return b
}

// stats returns a copy of what the origin saw.
func (o *llOrigin) stats() (requests int, blocking map[string]int, held int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	b := make(map[string]int, len(o.blocking))
	for k, v := range o.blocking {
		b[k] = v
	}
	return o.requests, b, o.held
}

// httpUpstream adapts a plain net/http client to upstream.Upstream and
// records when each response body has been read to the end.
type httpUpstream struct {
	base    string
	client  *http.Client
	arrived atomic.Int64 // UnixNano of the last body EOF
}

func newUpstream(t *testing.T, base string) *httpUpstream {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpUpstream{base: base, client: &http.Client{Transport: tr}}
}

func (u *httpUpstream) up() upstream.Upstream {
	return upstream.Func(func(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.base+r.URI(), nil)
		if err != nil {
			return nil, err
		}
		req.Header = r.Header.Clone()
		resp, err := u.client.Do(req)
		if err != nil {
			return nil, err
		}
		return &upstream.Response{Status: resp.StatusCode, Header: resp.Header, Body: &timedBody{resp.Body, &u.arrived}}, nil
	})
}

type timedBody struct {
	io.ReadCloser
	at *atomic.Int64
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.at.Store(time.Now().UnixNano())
	}
	return n, err
}
