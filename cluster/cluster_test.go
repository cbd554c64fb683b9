package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

// logBuf collects a node's logs for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type node struct {
	*Cluster
	logs *logBuf
}

func start(t *testing.T, name, role string, join []string, keys ...[]byte) node {
	t.Helper()
	logs := &logBuf{}
	cfg := DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Join, cfg.Keys = name, "127.0.0.1:0", join, keys
	cfg.Meta.HTTP, cfg.Meta.Role = "http://127.0.0.1:1/"+name, role
	cfg.RejoinInterval = 200 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return node{c, logs}
}

func activeEdges(c *Cluster) []string {
	var out []string
	for _, m := range c.Members() {
		if m.Role == RoleEdge && m.State == StateActive {
			out = append(out, m.Name)
		}
	}
	return out
}

// Three nodes find each other and agree on every key's owner; a shield
// is a member but owns no edge keys.
func TestJoinAndAgree(t *testing.T) {
	a := start(t, "a", RoleEdge, nil)
	b := start(t, "b", RoleEdge, []string{a.Self().Gossip})
	c := start(t, "c", RoleEdge, []string{b.Self().Gossip})
	s := start(t, "s", RoleShield, []string{a.Self().Gossip})
	nodes := []node{a, b, c, s}
	testenv.Eventually(t, 5*time.Second, "every node sees 4 members", func() bool {
		for _, n := range nodes {
			if len(n.Members()) != 4 {
				return false
			}
		}
		return true
	})
	for i := range 500 {
		key := fmt.Sprintf("/live/s/v/seg%d.m4s", i)
		want, _ := a.Owner(RoleEdge, key)
		for _, n := range nodes {
			if got, _ := n.Owner(RoleEdge, key); got.Name != want.Name {
				t.Fatalf("%s: %s owns %s, but %s says %s", n.Self().Name, got.Name, key, a.Self().Name, want.Name)
			}
		}
		if want.Role != RoleEdge {
			t.Fatalf("a %s owns an edge key", want.Role)
		}
		if sh, _ := b.Owner(RoleShield, key); sh.Name != "s" {
			t.Fatalf("shield owner %q", sh.Name)
		}
	}
	st := c.Status()
	var shares float64
	for _, m := range st.Members {
		if m.Role == RoleEdge {
			shares += m.Share
		}
		if m.HTTP != "http://127.0.0.1:1/"+m.Name {
			t.Errorf("member %s gossips HTTP %q", m.Name, m.HTTP)
		}
	}
	if st.Self != "c" || len(st.Members) != 4 || shares < 0.999 || shares > 1.001 {
		t.Errorf("status %+v (edge shares sum %v)", st, shares)
	}
}

// Draining takes a node off every ring within a gossip round or two; a
// graceful leave and a crash remove it from the member list.
func TestDrainLeaveCrash(t *testing.T) {
	a := start(t, "a", RoleEdge, nil)
	b := start(t, "b", RoleEdge, []string{a.Self().Gossip})
	c := start(t, "c", RoleEdge, []string{a.Self().Gossip})
	testenv.Eventually(t, 5*time.Second, "3 members", func() bool { return len(activeEdges(a.Cluster)) == 3 && len(activeEdges(c.Cluster)) == 3 })

	t0 := time.Now()
	if err := b.Drain(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, "b off the rings", func() bool {
		return len(activeEdges(a.Cluster)) == 2 && len(activeEdges(c.Cluster)) == 2 && len(activeEdges(b.Cluster)) == 2
	})
	t.Logf("drain seen everywhere after %v", time.Since(t0).Round(time.Millisecond))
	for i := range 200 {
		if o, _ := a.Owner(RoleEdge, fmt.Sprint(i)); o.Name == "b" {
			t.Fatal("a draining node still owns keys")
		}
	}
	if !b.Draining() || len(a.Members()) != 3 {
		t.Errorf("draining node should stay a member until it leaves: %v", a.Members())
	}

	t0 = time.Now()
	if err := b.Leave(time.Second); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, "b gone", func() bool { return len(a.Members()) == 2 && len(c.Members()) == 2 })
	t.Logf("leave seen after %v", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	c.Close() // no goodbye: a crash as far as a is concerned
	testenv.Eventually(t, 10*time.Second, "c declared dead", func() bool { return len(a.Members()) == 1 })
	t.Logf("crash noticed after %v", time.Since(t0).Round(time.Millisecond))
}

// A node with the wrong gossip key cannot join, says so, and the cluster
// it tried to join does not change.
func TestWrongKey(t *testing.T) {
	good := bytes.Repeat([]byte{1}, 32)
	bad := bytes.Repeat([]byte{2}, 32)
	a := start(t, "a", RoleEdge, nil, good)
	b := start(t, "b", RoleEdge, []string{a.Self().Gossip}, good)
	testenv.Eventually(t, 5*time.Second, "a and b", func() bool { return len(a.Members()) == 2 })
	x := start(t, "x", RoleEdge, []string{a.Self().Gossip}, bad)
	time.Sleep(time.Second) // several rejoin attempts; nothing may change meanwhile
	if len(a.Members()) != 2 || len(b.Members()) != 2 || len(x.Members()) != 1 {
		t.Fatalf("members: a %v b %v x %v", a.Members(), b.Members(), x.Members())
	}
	if !strings.Contains(x.logs.String(), "cannot join") {
		t.Errorf("no clear log line on the intruder:\n%s", x.logs.String())
	}
	// Rotation, step one: a node that still encrypts with the old key but
	// already accepts the new one talks to nodes that only know the old.
	r := start(t, "r", RoleEdge, []string{a.Self().Gossip}, good, bad)
	testenv.Eventually(t, 5*time.Second, "rotating node joins", func() bool { return len(a.Members()) == 3 && len(r.Members()) == 3 })
}

// A node started before anyone it could join finds the cluster later.
func TestRejoin(t *testing.T) {
	port := testenv.FreeTCPUDPPort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	b := start(t, "b", RoleEdge, []string{addr})
	if len(b.Members()) != 1 {
		t.Fatal("b is not alone")
	}
	cfg := DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Meta.HTTP = "a", addr, "http://127.0.0.1:1"
	cfg.Logger = slog.New(slog.DiscardHandler)
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	t0 := time.Now()
	testenv.Eventually(t, 5*time.Second, "b rejoins", func() bool { return len(b.Members()) == 2 && len(a.Members()) == 2 })
	t.Logf("joined %v after the first node appeared", time.Since(t0).Round(time.Millisecond))
}

func TestMetaValidate(t *testing.T) {
	ok := Meta{HTTP: "http://10.0.0.5:8081", Role: RoleEdge, Weight: 1, State: StateActive}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]Meta{
		"no http":    {Role: RoleEdge, Weight: 1, State: StateActive},
		"bad role":   {HTTP: ok.HTTP, Role: "origin", Weight: 1, State: StateActive},
		"bad state":  {HTTP: ok.HTTP, Role: RoleEdge, Weight: 1, State: "gone"},
		"zero":       {HTTP: ok.HTTP, Role: RoleEdge, State: StateActive},
		"huge zone":  {HTTP: ok.HTTP, Role: RoleEdge, Weight: 1, State: StateActive, Zone: strings.Repeat("z", 600)},
		"ftp scheme": {HTTP: "ftp://h", Role: RoleEdge, Weight: 1, State: StateActive},
	} {
		if m.Validate() == nil {
			t.Errorf("%s: accepted %+v", name, m)
		}
	}
	if _, err := decodeMeta([]byte("{not json")); err == nil {
		t.Error("bad JSON accepted")
	}
}

// --join takes a DNS name: every address it resolves to is tried (a
// Kubernetes headless Service resolves to every pod). "localhost" is the
// name that resolves here without a DNS server.
func TestJoinByName(t *testing.T) {
	a := start(t, "a", RoleEdge, nil)
	_, port, _ := strings.Cut(a.Self().Gossip, ":")
	b := start(t, "b", RoleEdge, []string{"localhost:" + port})
	testenv.Eventually(t, 5*time.Second, "b joined a by name", func() bool { return len(a.Members()) == 2 && len(b.Members()) == 2 })
}
