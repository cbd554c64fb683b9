package edge_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// 1,000 viewers miss on one 1 MiB segment behind a slow upstream: one
// upstream request, identical bodies, and the first bytes reach every viewer
// before the upstream has finished sending (read-while-writer).
func TestFlashCrowdOneFetchReadWhileWriter(t *testing.T) {
	body := make([]byte, 1<<20)
	rand.Read(body)
	var hits atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/live/s/v/seg1.m4s" {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Content-Type", "video/mp4")
		w.Write(body[:256<<10])
		w.(http.Flusher).Flush()
		<-release // the rest only once every viewer has seen the start
		w.Write(body[256<<10:])
	}))
	defer up.Close()
	_, base, _ := startEdge(t, nil, up.URL)

	viewers := 1000
	if testenv.Race {
		viewers = 200 // full size runs in the race-free pass of scripts/test.sh
	}
	var wg sync.WaitGroup
	var firstBytes sync.WaitGroup
	firstBytes.Add(viewers)
	results := make(chan []byte, viewers)
	caches := make(chan string, viewers)
	for i := 0; i < viewers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(base + "/live/s/v/seg1.m4s")
			if err != nil {
				t.Error(err)
				firstBytes.Done()
				return
			}
			defer resp.Body.Close()
			caches <- resp.Header.Get("X-Cache")
			first := make([]byte, 1024)
			_, err = io.ReadFull(resp.Body, first)
			firstBytes.Done()
			if err != nil {
				t.Error(err)
				return
			}
			rest, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
				return
			}
			results <- append(first, rest...)
		}()
	}
	start := time.Now()
	done := make(chan struct{})
	go func() { firstBytes.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("viewers did not get the first bytes while the upstream was still sending")
	}
	t.Logf("all %d viewers had their first bytes after %v", viewers, time.Since(start))
	close(release)
	wg.Wait()
	t.Logf("all bodies complete after %v", time.Since(start))
	close(results)
	close(caches)
	n := 0
	for b := range results {
		n++
		if !bytes.Equal(b, body) {
			t.Fatalf("a viewer got %d different bytes", len(b))
		}
	}
	kinds := map[string]int{}
	for c := range caches {
		kinds[c]++
	}
	if n != viewers || hits.Load() != 1 {
		t.Errorf("%d complete bodies, %d upstream requests; want %d and 1", n, hits.Load(), viewers)
	}
	if kinds["MISS"] != 1 {
		t.Errorf("X-Cache results %v: want exactly one MISS", kinds)
	}
	t.Logf("X-Cache results: %v", kinds)
}
