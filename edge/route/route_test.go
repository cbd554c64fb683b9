package route

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/cluster"
	"github.com/livecdn/livecdn/cluster/ring"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/edge/upstream"
)

// members is a fixed membership: the ring of the real cluster package's
// ring over the given members.
type members struct {
	self string
	all  []cluster.Member
}

func (m *members) Self() cluster.Member {
	for _, x := range m.all {
		if x.Name == m.self {
			return x
		}
	}
	return cluster.Member{Name: m.self}
}

func (m *members) Owners(role, key string, n int) []cluster.Member {
	var nodes []ring.Node
	by := map[string]cluster.Member{}
	for _, x := range m.all {
		if x.Role == role && x.State == cluster.StateActive {
			nodes = append(nodes, ring.Node{Name: x.Name, Weight: 1})
			by[x.Name] = x
		}
	}
	var out []cluster.Member
	for _, nd := range ring.New(nodes).Candidates(key, n) {
		out = append(out, by[nd.Name])
	}
	return out
}

// server is a real HTTP server standing in for a peer, shield or origin:
// it records what it was asked and answers with its name.
type server struct {
	name string
	url  string
	mu   sync.Mutex
	reqs []*http.Request
	code int
}

func newServer(t *testing.T, name string, code int) *server {
	s := &server{name: name, code: code}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		w.WriteHeader(s.code)
		io.WriteString(w, s.name)
	}))
	t.Cleanup(hs.Close)
	s.url = hs.URL
	return s
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

func (s *server) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs[len(s.reqs)-1]
}

func origin(s *server) upstream.Upstream {
	cfg := upstream.DefaultOriginsConfig()
	cfg.URLs, cfg.HealthInterval = []string{s.url}, -1
	o, err := upstream.NewOrigins(cfg)
	if err != nil {
		panic(err)
	}
	return o
}

func member(name, role, url string) cluster.Member {
	return cluster.Member{Name: name, Meta: cluster.Meta{HTTP: url, Role: role, Weight: 1, State: cluster.StateActive}}
}

// keyOwnedBy finds a key whose owner among ms is name.
func keyOwnedBy(t *testing.T, ms *members, name string) string {
	for i := range 1000 {
		k := "/live/s/v/seg" + strings.Repeat("1", i%7) + string(rune('a'+i%26)) + ".m4s"
		if o := ms.Owners(cluster.RoleEdge, k, 1); len(o) == 1 && o[0].Name == name {
			return k
		}
	}
	t.Fatal("no key found")
	return ""
}

func body(t *testing.T, r *upstream.Response) string {
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

func TestOwnerPeerShieldOrigin(t *testing.T) {
	peer, shield, org := newServer(t, "peer", 200), newServer(t, "shield", 200), newServer(t, "origin", 200)
	ms := &members{self: "a", all: []cluster.Member{
		member("a", cluster.RoleEdge, "http://127.0.0.1:1"), member("b", cluster.RoleEdge, peer.url),
		member("s", cluster.RoleShield, shield.url)}}
	signer, err := token.NewSigner([]byte("a-signing-key-of-some-length"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(Config{Members: ms, Origins: origin(org), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// b's key: to the peer, with a hop header and a token the peer accepts.
	kb := keyOwnedBy(t, ms, "b")
	if !r.ViaPeer(kb) {
		t.Error("ViaPeer false for a peer's key")
	}
	resp, err := r.Fetch(ctx, &upstream.Request{Path: kb})
	if err != nil || body(t, resp) != "peer" || !resp.Peer {
		t.Fatalf("peer's key: %v %v", resp, err)
	}
	got := peer.last()
	if got.Header.Get(HopHeader) != "1" {
		t.Errorf("hop header %q", got.Header.Get(HopHeader))
	}
	if err := signer.Verify(got.URL.Path, got.URL.RawQuery, nowish()); err != nil {
		t.Errorf("peer request not signed: %v (%s)", err, got.URL.RawQuery)
	}

	// a's own key: straight to the shield, hop 1.
	ka := keyOwnedBy(t, ms, "a")
	if r.ViaPeer(ka) {
		t.Error("ViaPeer true for an own key")
	}
	resp, err = r.Fetch(ctx, &upstream.Request{Path: ka})
	if err != nil || body(t, resp) != "shield" || resp.Peer {
		t.Fatalf("own key: %v %v", resp, err)
	}
	// Direct (or a request from a peer) never goes to a peer.
	resp, err = r.Direct().Fetch(ctx, &upstream.Request{Path: kb})
	if err != nil || body(t, resp) != "shield" {
		t.Fatalf("direct: %v %v", resp, err)
	}
	resp, err = r.Fetch(ctx, &upstream.Request{Path: kb, Hop: 1})
	if err != nil || body(t, resp) != "shield" || shield.last().Header.Get(HopHeader) != "2" {
		t.Fatalf("hop 1: %v %v", resp, err)
	}
	// At the hop limit only the origin is left.
	resp, err = r.Fetch(ctx, &upstream.Request{Path: kb, Hop: MaxHops})
	if err != nil || body(t, resp) != "origin" {
		t.Fatalf("hop 2: %v %v", resp, err)
	}
}

// A dead owner costs one failed attempt: that request falls back at once,
// and later ones skip the owner until DownFor passes.
func TestFallbackOnDeadOwner(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close() // connection refused from now on
	org := newServer(t, "origin", 200)
	ms := &members{self: "a", all: []cluster.Member{member("a", cluster.RoleEdge, "http://127.0.0.1:1"), member("b", cluster.RoleEdge, dead)}}
	r, _ := New(Config{Members: ms, Origins: origin(org)})
	kb := keyOwnedBy(t, ms, "b")
	for range 3 {
		resp, err := r.Fetch(context.Background(), &upstream.Request{Path: kb})
		if err != nil || body(t, resp) != "origin" {
			t.Fatalf("fallback: %v %v", resp, err)
		}
	}
	if r.ViaPeer(kb) {
		t.Error("a peer known down is still where misses go")
	}
	if org.count() != 3 {
		t.Errorf("origin saw %d requests", org.count())
	}
}

// A 5xx or 508 from a peer falls back; a 404 and a 503 to a blocking
// reload are answers.
func TestPeerAnswers(t *testing.T) {
	for _, c := range []struct {
		code     int
		query    string
		fallback bool
	}{{502, "", true}, {508, "", true}, {404, "", false}, {503, "_HLS_msn=4", false}, {503, "", true}} {
		peer, org := newServer(t, "peer", c.code), newServer(t, "origin", 200)
		ms := &members{self: "a", all: []cluster.Member{member("a", cluster.RoleEdge, "http://127.0.0.1:1"), member("b", cluster.RoleEdge, peer.url)}}
		r, _ := New(Config{Members: ms, Origins: origin(org)})
		resp, err := r.Fetch(context.Background(), &upstream.Request{Path: keyOwnedBy(t, ms, "b"), Query: c.query})
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); (got == "origin") != c.fallback {
			t.Errorf("peer %d %q: answered by %s", c.code, c.query, got)
		}
	}
}

// Static shields share keys by the same hashing and fail over in order.
func TestStaticShields(t *testing.T) {
	s1, s2, org := newServer(t, "s1", 200), newServer(t, "s2", 500), newServer(t, "origin", 200)
	r, err := New(Config{Shields: []string{s1.url, s2.url}, Origins: origin(org)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		resp, err := r.Fetch(context.Background(), &upstream.Request{Path: "/live/s/v/seg" + string(rune('a'+i%26)) + ".m4s"})
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); got != "s1" {
			t.Fatalf("answered by %s", got)
		}
	}
	if s2.count() == 0 {
		t.Error("the second shield owned no key")
	}
	if _, err := New(Config{Shields: []string{"ftp://x"}, Origins: origin(org)}); err == nil {
		t.Error("a non-HTTP shield was accepted")
	}
}

func TestCheckHops(t *testing.T) {
	for _, c := range []struct {
		hop, via string
		want     int
		err      error
	}{
		{"", "", 0, nil},
		{"1", "1.1 e2", 1, nil},
		{"2", "", 2, nil},
		{"3", "", 0, ErrLoop},
		{"-1", "", 0, ErrBadHop},
		{"1e3", "", 0, ErrBadHop},
		{"99999999999999999999", "", 0, ErrBadHop},
		{"", "1.1 proxy, 1.1 self", 0, ErrLoop},
		{"", "HTTP/1.1 self (livecdn)", 0, ErrLoop},
		{"", "1.1 selfish, 1.1 myself", 0, nil},
	} {
		n, err := CheckHops([]byte(c.hop), []byte(c.via), "self")
		if n != c.want || !errors.Is(err, c.err) {
			t.Errorf("CheckHops(%q, %q) = %d, %v; want %d, %v", c.hop, c.via, n, err, c.want, c.err)
		}
	}
}

func FuzzCheckHops(f *testing.F) {
	f.Add("1", "1.1 a, 1.1 b")
	f.Add("", "HTTP/1.1 self (x)")
	f.Fuzz(func(t *testing.T, hop, via string) {
		n, err := CheckHops([]byte(hop), []byte(via), "self")
		if err == nil && (n < 0 || n > MaxHops) {
			t.Fatalf("accepted %d hops", n)
		}
		if err == nil && strings.Contains(via, " self,") {
			t.Fatalf("missed self in %q", via)
		}
	})
}

func nowish() time.Time { return time.Now() }
