package edge_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/upstream"
)

// An upstream that dies in the middle of a chunked body: the viewer's
// response fails too (no clean end that would pass for a short but whole
// segment), and the cut-off object is not cached.
func TestTruncatedUpstreamBody(t *testing.T) {
	var calls atomic.Int32
	first := bytes.Repeat([]byte("a"), 40<<10)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		n := calls.Add(1)
		w.Header().Set("Content-Type", "video/iso.segment")
		w.WriteHeader(http.StatusOK) // no Content-Length: chunked, as for a part still growing
		w.Write(first)
		w.(http.Flusher).Flush()
		if n == 1 {
			time.Sleep(50 * time.Millisecond)
			panic(http.ErrAbortHandler) // the connection drops mid-body
		}
		w.Write(first)
	}))
	defer up.Close()
	_, base, _ := startEdge(t, nil, up.URL)
	resp, err := client.Get(base + "/live/s/v/seg9.m4s")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("a cut-off body reached the viewer as complete: %d bytes, err %v, %d calls, X-Cache %s, CL %d, TE %v", len(body), err, calls.Load(), resp.Header.Get("X-Cache"), resp.ContentLength, resp.TransferEncoding)
	}
	resp, b := fetch(t, base+"/live/s/v/seg9.m4s")
	if resp.StatusCode != 200 || len(b) != 2*len(first) || calls.Load() != 2 {
		t.Errorf("after the failure: %d, %d bytes, %d upstream calls; want the whole body fetched again", resp.StatusCode, len(b), calls.Load())
	}
}

// A 404 a peer edge passed on is not cached again here: the peer cached
// it for the 404 TTL already, and stacked TTLs would outlast a part.
func TestPeer404NotCachedTwice(t *testing.T) {
	var calls atomic.Int32
	peer := upstream.Func(func(ctx context.Context, r *upstream.Request) (*upstream.Response, error) {
		calls.Add(1)
		return &upstream.Response{Status: http.StatusNotFound, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("no")),
			Peer: true}, nil
	})
	_, base, _ := startEdge(t, func(c *edge.Config) { c.Upstream, c.Ready = peer, nil }, "http://127.0.0.1:1")
	for range 3 {
		if resp, _ := fetch(t, base+"/live/s/v/seg99.m4s"); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if calls.Load() != 3 {
		t.Errorf("a peer's 404 was cached: %d upstream calls for 3 requests", calls.Load())
	}
}
