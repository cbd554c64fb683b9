package ingest

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrUnauthorized is returned when a publisher's key is missing or wrong, or the webhook said no.
var ErrUnauthorized = errors.New("publish not authorized")

// Keys maps stream names to publish keys.
//
// The YAML file looks like:
//
//	streams:
//	  news: s3cret
//	  sport: other
//	default: fallback   # optional: the key for any stream not listed
//
// Without a Keys value (no --keys-file) any name may publish; that is meant for development.
type Keys struct {
	Streams map[string]string `yaml:"streams"`
	Default string            `yaml:"default"`
}

// LoadKeys reads a keys file.
func LoadKeys(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var k Keys
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("keys file %s: %w", path, err)
	}
	for name, key := range k.Streams {
		if !ValidName(name) {
			return nil, fmt.Errorf("keys file %s: %w: %q", path, ErrBadName, name)
		}
		if key == "" {
			return nil, fmt.Errorf("keys file %s: empty key for stream %q", path, name)
		}
	}
	return &k, nil
}

// Check reports whether key may publish name.
func (k *Keys) Check(name, key string) error {
	want, ok := k.Streams[name]
	if !ok {
		want = k.Default
	}
	if want == "" {
		return fmt.Errorf("%w: stream %q has no key configured", ErrUnauthorized, name)
	}
	if key == "" {
		return fmt.Errorf("%w: missing key for stream %q", ErrUnauthorized, name)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(key)) != 1 {
		return fmt.Errorf("%w: wrong key for stream %q", ErrUnauthorized, name)
	}
	return nil
}

// Webhook asks an HTTP endpoint whether a publish may go ahead: it POSTs the
// request as JSON and approves on any 2xx answer. A timeout or a network error
// refuses, because an auth service that cannot be reached must not open the door.
type Webhook struct {
	URL     string
	Client  *http.Client
	Timeout time.Duration
}

// webhookBody is what the webhook receives.
type webhookBody struct {
	Action   string `json:"action"`
	Protocol string `json:"protocol"`
	Stream   string `json:"stream"`
	Key      string `json:"key"`
	Remote   string `json:"remote"`
}

// Approve calls the webhook for req.
func (w *Webhook) Approve(ctx context.Context, req Request) error {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(webhookBody{"publish", req.Protocol, req.Name, req.Key, req.Remote})
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: webhook: %v", ErrUnauthorized, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("%w: webhook unreachable: %v", ErrUnauthorized, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: webhook answered %d", ErrUnauthorized, resp.StatusCode)
	}
	return nil
}
