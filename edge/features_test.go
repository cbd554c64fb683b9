package edge_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/internal/testenv"
)

// With --sign-key: unsigned and forged URLs get 403; a signed playlist comes
// back with the token in every URI; two viewers' tokens share one cached copy.
func TestSignedURLs(t *testing.T) {
	up := newFakeOrigin(t)
	signer, err := token.NewSigner([]byte("0123456789abcdef-secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, base, _ := startEdge(t, func(c *edge.Config) { c.Signer = signer }, up.URL)
	for _, p := range []string{"/live/s/v/index.m3u8", "/live/s/v/seg1.m4s", "/live/s/v/seg1.m4s?exp=9999999999&sig=AAAA"} {
		if resp, _ := fetch(t, base+p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", p, resp.StatusCode)
		}
	}
	now := time.Now()
	signed := func(p string, ttl time.Duration) string {
		u, err := signer.SignURL(p, ttl, now)
		if err != nil {
			t.Fatal(err)
		}
		return base + u
	}
	resp, body := fetch(t, signed("/live/s/v/index.m3u8", time.Hour))
	if resp.StatusCode != 200 {
		t.Fatalf("signed playlist: %d %s", resp.StatusCode, body)
	}
	var m playlist.Media
	if err := m.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]*playlist.MediaSegment{{URI: m.Map.URI}}, m.Segments...) {
		u, _ := url.Parse(s.URI)
		if u.Query().Get("sig") == "" {
			t.Fatalf("URI %q carries no token", s.URI)
		}
		if r, _ := fetch(t, base+"/live/s/v/"+s.URI); r.StatusCode != 200 {
			t.Errorf("child %s: %d", s.URI, r.StatusCode)
		}
	}
	// Another viewer with another token: served from the same cached object.
	r2, _ := fetch(t, signed("/live/s/v/seg1.m4s", 2*time.Hour))
	if r2.StatusCode != 200 || r2.Header.Get("X-Cache") != "HIT" || up.count("/live/s/v/seg1.m4s") != 1 {
		t.Errorf("token became part of the cache key: %s, %d upstream requests", r2.Header.Get("X-Cache"), up.count("/live/s/v/seg1.m4s"))
	}
	if bytes.Contains([]byte(strings.Join(upRequests(up), " ")), []byte("sig=")) {
		t.Errorf("the token leaked upstream: %v", upRequests(up))
	}
	otherToken, _ := signer.Sign("/live/other/v/seg1.m4s", now.Add(time.Hour))
	if r, _ := fetch(t, base+"/live/s/v/seg1.m4s?"+otherToken); r.StatusCode != http.StatusForbidden {
		t.Errorf("a token for another stream opened this one: %d", r.StatusCode)
	}
	expired, _ := signer.Sign("/live/s/v/seg1.m4s", now.Add(-time.Minute))
	if r, _ := fetch(t, base+"/live/s/v/seg1.m4s?"+expired); r.StatusCode != http.StatusForbidden {
		t.Errorf("expired token: %d", r.StatusCode)
	}
}

func upRequests(f *fakeOrigin) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.requests {
		out = append(out, k)
	}
	return out
}

// A playlist passing through makes the edge fetch the segments it names
// before anyone asks; a CMCD nor does the same for the announced object.
func TestPrefetch(t *testing.T) {
	up := newFakeOrigin(t)
	_, base, _ := startEdge(t, nil, up.URL)
	fetch(t, base+"/live/s/v/index.m3u8") // names seg0..seg2; the newest 3 objects are fetched
	// The upstream sees the request before the body lands; wait for all
	// three prefetches to finish, not merely to start.
	testenv.Eventually(t, 5*time.Second, "prefetch of seg0..seg2", func() bool {
		_, m := fetch(t, base+"/metrics")
		return up.count("/live/s/v/seg2.m4s") == 1 && bytes.Contains(m, []byte("livecdn_edge_prefetched_total 3\n"))
	})
	resp, _ := fetch(t, base+"/live/s/v/seg2.m4s")
	if resp.Header.Get("X-Cache") != "HIT" {
		t.Errorf("prefetched segment answered %s", resp.Header.Get("X-Cache"))
	}
	fetch(t, base+"/live/s/v/seg2.m4s?CMCD="+url.QueryEscape(`nor="seg7.m4s",sid="x"`))
	testenv.Eventually(t, 5*time.Second, "CMCD prefetch of seg7", func() bool { return up.count("/live/s/v/seg7.m4s") == 1 })
	req, _ := http.NewRequest(http.MethodGet, base+"/live/s/v/seg7.m4s", nil)
	req.Header.Set("CMCD-Request", `nor="seg8.m4s"`)
	client.Do(req)
	testenv.Eventually(t, 5*time.Second, "CMCD header prefetch of seg8", func() bool { return up.count("/live/s/v/seg8.m4s") == 1 })
	_, metrics := fetch(t, base+"/metrics")
	for _, want := range []string{"livecdn_edge_prefetched_total", "livecdn_edge_prefetch_hits_total 2", `livecdn_edge_fetches_total{reason="prefetch"}`} {
		if !bytes.Contains(metrics, []byte(want)) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// HTTPS with --tls-cert/--tls-key, and SIGTERM drains a real edge process.
func TestTLSAndGracefulStop(t *testing.T) {
	up := newFakeOrigin(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	out, err := exec.Command("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
		"-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1").CombinedOutput()
	if err != nil {
		t.Skipf("openssl: %v %s", err, out)
	}
	_, base, _ := startEdge(t, func(c *edge.Config) { c.TLSCert, c.TLSKey = cert, key }, up.URL)
	tlsClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := tlsClient.Get(strings.Replace(base, "http://", "https://", 1) + "/live/s/v/seg1.m4s")
	if err != nil || resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("HTTPS: %v %v", resp, err)
	}
	resp.Body.Close()

	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.Start(t, addr, "edge", "--http", addr, "--origin", up.URL)
	if r, _ := fetch(t, p.HTTP+"/live/s/v/seg1.m4s"); r.StatusCode != 200 {
		t.Fatalf("edge process: %d", r.StatusCode)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	if !strings.Contains(p.Output(), "stopped") {
		t.Errorf("no orderly stop in the log")
	}
}

// /readyz follows upstream health.
func TestReadyFollowsUpstream(t *testing.T) {
	up := newFakeOrigin(t)
	_, base, _ := startEdge(t, nil, up.URL)
	if r, _ := fetch(t, base+"/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz: %d", r.StatusCode)
	}
	up.down.Store(true)
	testenv.Eventually(t, 5*time.Second, "readyz turns 503", func() bool {
		r, _ := fetch(t, base+"/readyz")
		return r.StatusCode == http.StatusServiceUnavailable
	})
	up.down.Store(false)
	testenv.Eventually(t, 5*time.Second, "readyz recovers", func() bool {
		r, _ := fetch(t, base+"/readyz")
		return r.StatusCode == http.StatusOK
	})
}
