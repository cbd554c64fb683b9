package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

type nopSink struct{ closed chan struct{} }

func (s *nopSink) WriteUnit(*Unit) error { return nil }
func (s *nopSink) Close()                { close(s.closed) }

func TestHubAuthorize(t *testing.T) {
	dir := t.TempDir()
	kf := filepath.Join(dir, "keys.yaml")
	os.WriteFile(kf, []byte("streams:\n  news: s3cret\ndefault: any\n"), 0o644)
	keys, err := LoadKeys(kf)
	if err != nil {
		t.Fatal(err)
	}
	var hooked []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b webhookBody
		json.NewDecoder(r.Body).Decode(&b)
		hooked = append(hooked, b.Stream)
		if b.Stream == "blocked" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer hook.Close()
	h := NewHub(HubConfig{Handler: HandlerFunc(func(*Stream) (Sink, error) { return &nopSink{closed: make(chan struct{})}, nil }),
		Keys: keys, Webhook: &Webhook{URL: hook.URL}})
	ctx := context.Background()
	for _, tc := range []struct {
		name, key string
		want      error
	}{
		{"news", "s3cret", nil},
		{"news", "wrong", ErrUnauthorized},
		{"news", "", ErrUnauthorized},
		{"other", "any", nil},
		{"other", "s3cret", ErrUnauthorized},
		{"blocked", "any", ErrUnauthorized},
		{"../x", "any", ErrBadName},
	} {
		s, err := h.Authorize(ctx, Request{Protocol: "test", Name: tc.name, Key: tc.key})
		if !errors.Is(err, tc.want) {
			t.Errorf("%s/%q: err %v, want %v", tc.name, tc.key, err, tc.want)
		}
		if s != nil {
			s.Close()
		}
	}
	if len(hooked) != 3 { // only requests that passed the key check reach the webhook
		t.Errorf("webhook saw %v", hooked)
	}
}

func TestHubBusyAndTakeover(t *testing.T) {
	for _, takeover := range []bool{false, true} {
		var sinks []*nopSink
		h := NewHub(HubConfig{Takeover: takeover, Handler: HandlerFunc(func(*Stream) (Sink, error) {
			s := &nopSink{closed: make(chan struct{})}
			sinks = append(sinks, s)
			return s, nil
		})})
		ctx := context.Background()
		first, err := h.Authorize(ctx, Request{Name: "a"})
		if err != nil {
			t.Fatal(err)
		}
		first.Start([]*Track{{ClockRate: 90000}})
		second, err := h.Authorize(ctx, Request{Name: "a"})
		if !takeover {
			if !errors.Is(err, ErrBusy) {
				t.Fatalf("second publisher: %v, want ErrBusy", err)
			}
			first.Close()
			if _, err := h.Authorize(ctx, Request{Name: "a"}); err != nil {
				t.Fatalf("name not freed after Close: %v", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("takeover: %v", err)
		}
		select {
		case <-first.Done():
		default:
			t.Fatal("old session not kicked")
		}
		first.Close() // the old connection ends after the kick: must not free the new claim
		if !h.Live("a") {
			t.Fatal("old session's Close released the new publisher's name")
		}
		second.Close()
		h.Close()
		if _, err := h.Authorize(ctx, Request{Name: "b"}); !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	}
}

func FuzzParsePublishPath(f *testing.F) {
	for _, s := range []string{"live/a", "/live/a?key=b", "live/../x", "live/a/b", "live/%2e", "x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name, _, err := ParsePublishPath(p)
		if err == nil && !ValidName(name) {
			t.Fatalf("%q gave invalid name %q", p, name)
		}
	})
}
