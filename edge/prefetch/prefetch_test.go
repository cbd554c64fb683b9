package prefetch

import (
	"context"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

const ll = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-PART-INF:PART-TARGET=0.2
#EXT-X-MEDIA-SEQUENCE:5
#EXT-X-MAP:URI="init1.mp4"
#EXTINF:2.0,
seg5.m4s
#EXT-X-PART:DURATION=0.2,URI="part6.0.m4s",INDEPENDENT=YES
#EXTINF:2.0,
seg6.m4s
#EXT-X-PART:DURATION=0.2,URI="part7.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part7.1.m4s"
#EXT-X-RENDITION-REPORT:URI="../audio/index.m3u8",LAST-MSN=7,LAST-PART=0
`

func TestMediaURIs(t *testing.T) {
	want := []string{"init1.mp4", "seg5.m4s", "part6.0.m4s", "seg6.m4s", "part7.0.m4s", "part7.1.m4s"}
	if got := MediaURIs([]byte(ll)); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestPlaylistPrefetchesNewObjectsOnce(t *testing.T) {
	var mu sync.Mutex
	var got []string
	f := New(Config{Concurrency: 16, MaxBytes: 1 << 20, FirstSight: 3}, func(ctx context.Context, p string) (int64, error) {
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
		return 100, nil
	})
	f.Playlist("/live/s/video/index.m3u8", []byte(ll))
	next := ll + "#EXT-X-PART:DURATION=0.2,URI=\"part7.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part7.2.m4s\"\n"
	f.Playlist("/live/s/video/index.m3u8", []byte(next))
	f.Close()
	sort.Strings(got)
	want := []string{"/live/s/video/part7.0.m4s", "/live/s/video/part7.1.m4s", "/live/s/video/part7.2.m4s", "/live/s/video/seg6.m4s"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prefetched %v, want %v", got, want)
	}
}

func TestBounds(t *testing.T) {
	release := make(chan struct{})
	f := New(Config{Concurrency: 2, MaxBytes: 150}, func(ctx context.Context, p string) (int64, error) {
		<-release
		return 100, nil
	})
	if !f.Offer("/a") || !f.Offer("/b") || f.Offer("/c") {
		t.Fatal("concurrency bound not applied")
	}
	close(release)
	for f.Stats.Prefetched.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	if f.Offer("/d") {
		t.Error("byte bound (200 outstanding > 150) not applied")
	}
	f.Served(100)
	if !f.Offer("/e") {
		t.Error("served bytes not released")
	}
	f.Close()
	if f.Stats.Dropped.Load() != 2 {
		t.Errorf("dropped %d, want 2", f.Stats.Dropped.Load())
	}
}

func TestCMCDNext(t *testing.T) {
	for _, tc := range []struct{ q, h, want string }{
		{`bl=2000,nor="seg7.m4s",sid="x"`, "", "/live/s/v/seg7.m4s"},
		{"", `nor="../a/seg1.m4s"`, ""},
		{"", `ot=v,nor="part3.1.m4s"`, "/live/s/v/part3.1.m4s"},
		{`sid="a,nor=\"x\""`, "", ""},
		{`nor=seg1.m4s`, "", ""},
	} {
		got, _ := CMCDNext("/live/s/v/seg6.m4s", tc.q, tc.h)
		if got != tc.want {
			t.Errorf("CMCDNext(%q, %q) = %q, want %q", tc.q, tc.h, got, tc.want)
		}
	}
}

func FuzzCMCDAndPlaylist(f *testing.F) {
	f.Add(`nor="seg7.m4s"`, ll)
	f.Fuzz(func(t *testing.T, cmcd, pl string) {
		if p, ok := CMCDNext("/live/s/v/x.m4s", cmcd, cmcd); ok && (len(p) == 0 || p[0] != '/') {
			t.Fatalf("relative result %q", p)
		}
		for _, u := range MediaURIs([]byte(pl)) {
			if p, ok := resolve("/live/s/v", u); ok && p[0] != '/' {
				t.Fatalf("resolved %q to %q", u, p)
			}
		}
	})
}
