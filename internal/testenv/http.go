package testenv

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// Get fetches url (15 s at most) and returns the status and body; a transport
// error fails the test.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", url, err)
	}
	return resp.StatusCode, b
}

// WaitSegments polls a media playlist until it lists at least n complete
// segments and returns it parsed; a playlist that does not parse fails the test.
func WaitSegments(t testing.TB, url string, n int, timeout time.Duration) *playlist.Media {
	t.Helper()
	var m *playlist.Media
	Eventually(t, timeout, fmt.Sprintf("%d segments in %s", n, url), func() bool {
		code, b := Get(t, url)
		if code != http.StatusOK {
			return false
		}
		var pl playlist.Media
		if err := pl.Unmarshal(b); err != nil {
			t.Fatalf("parse %s: %v\n%s", url, err, b)
		}
		m = &pl
		return len(pl.Segments) >= n
	})
	return m
}
