// Package route decides where an edge sends a miss: to the peer edge that
// owns the key (so the fleet fetches each object once), to the shield that
// owns it, or to the origin — falling back down that list at once when a
// hop fails, without waiting for gossip to notice a dead node.
package route

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/cluster"
	"github.com/livecdn/livecdn/cluster/ring"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/edge/upstream"
)

// HopHeader carries upstream.Request.Hop between nodes of the fleet.
const HopHeader = "X-Livecdn-Hop"

// MaxHops is the most hops a request may have made: viewer → edge → owner
// edge → shield is two. A request claiming more is refused (508).
const MaxHops = 2

// Membership is what the router needs from the cluster: who this node is
// and who owns a key. *cluster.Cluster implements it.
type Membership interface {
	Self() cluster.Member
	Owners(role, key string, n int) []cluster.Member
}

var _ Membership = (*cluster.Cluster)(nil)

// Config holds the router's tunables; DefaultConfig documents the defaults.
type Config struct {
	// Members is the fleet; nil routes straight to Shields and Origins.
	Members Membership
	// Role is this node's role: an edge asks peers and shields, a shield
	// only the origins.
	Role string
	// Shields are static shield base URLs, used when gossip knows no
	// shield (a fleet without gossip, or shields outside it).
	Shields []string
	// Origins answer when no peer or shield does. Required.
	Origins upstream.Upstream
	// Signer, when viewer tokens are on, signs requests to peers and
	// shields, since they check tokens like any viewer request.
	Signer *token.Signer
	// ConnectTimeout bounds connecting to a peer or shield. Default 300ms:
	// they sit on the same network, so a slow connect means a dead node,
	// and the origin is the better bet.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds waiting for a peer's headers. Default
	// 10s, like the origins', because a peer holds LL-HLS blocking reloads
	// until the part exists.
	ResponseHeaderTimeout time.Duration
	// DownFor is how long a node that failed a fetch is skipped by this
	// node, so only the first request after a crash pays for it. Default
	// 3s, about how long gossip takes to declare the node dead.
	DownFor time.Duration
	// Transport carries peer and shield requests; nil builds one.
	Transport *http.Transport
	// Logger receives fallbacks; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the peer fetch metrics; none when nil.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Role: cluster.RoleEdge, ConnectTimeout: 300 * time.Millisecond,
		ResponseHeaderTimeout: 10 * time.Second, DownFor: 3 * time.Second}
}

// Router is an upstream.Upstream over the fleet.
type Router struct {
	cfg     Config
	rt      *http.Transport
	shields *ring.Ring // the static shields
	log     *slog.Logger
	metrics *metrics

	mu   sync.Mutex
	down map[string]time.Time // base URL → skipped until
}

// New returns a router.
func New(cfg Config) (*Router, error) {
	d := DefaultConfig()
	if cfg.Origins == nil {
		return nil, errors.New("route: no origins")
	}
	if cfg.Role == "" {
		cfg.Role = d.Role
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = d.ConnectTimeout
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = d.ResponseHeaderTimeout
	}
	if cfg.DownFor <= 0 {
		cfg.DownFor = d.DownFor
	}
	r := &Router{cfg: cfg, rt: cfg.Transport, log: cfg.Logger, down: map[string]time.Time{}}
	if r.rt == nil {
		r.rt = upstream.NewTransport(cfg.ConnectTimeout)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	var nodes []ring.Node
	for _, s := range cfg.Shields {
		s = strings.TrimRight(s, "/")
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") {
			return nil, fmt.Errorf("route: shield %q is not an http(s) URL", s)
		}
		nodes = append(nodes, ring.Node{Name: s, Weight: 1})
	}
	r.shields = ring.New(nodes)
	r.metrics = newMetrics(cfg.Registerer)
	return r, nil
}

// hop is one candidate: a peer edge or a shield.
type hop struct {
	name, base, tier string
}

// ViaPeer reports whether a viewer's request for path would go to another
// edge (this node does not own it). The edge uses it to keep flights that
// wait on a peer apart from flights that do not, so two nodes that briefly
// disagree about an owner never wait on each other.
func (r *Router) ViaPeer(path string) bool {
	if r.cfg.Members == nil || r.cfg.Role != cluster.RoleEdge {
		return false
	}
	self := r.cfg.Members.Self().Name
	for _, m := range r.cfg.Members.Owners(cluster.RoleEdge, path, 2) {
		if m.Name == self {
			return false
		}
		if !r.isDown(m.HTTP) {
			return true
		}
	}
	return false
}

// Fetch implements upstream.Upstream: owner peer, then shield, then origin.
func (r *Router) Fetch(ctx context.Context, req *upstream.Request) (*upstream.Response, error) {
	return r.fetch(ctx, req, req.Hop > 0)
}

// Direct returns the router without the peer step: for requests that came
// from a peer, and for keys this node owns.
func (r *Router) Direct() upstream.Upstream {
	return upstream.Func(func(ctx context.Context, req *upstream.Request) (*upstream.Response, error) {
		return r.fetch(ctx, req, true)
	})
}

func (r *Router) fetch(ctx context.Context, req *upstream.Request, noPeers bool) (*upstream.Response, error) {
	key := req.Path
	for _, h := range r.candidates(key, noPeers, req.Hop) {
		resp, err := r.try(ctx, h, req)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		r.markDown(h.base)
		r.metrics.fetches.WithLabelValues(h.tier, "fallback").Inc()
		r.log.Warn("route: fetch failed, falling back", "tier", h.tier, "node", h.name, "path", req.Path, "err", err)
	}
	resp, err := r.cfg.Origins.Fetch(ctx, req)
	if err == nil {
		r.metrics.fetches.WithLabelValues("origin", "ok").Inc()
	}
	return resp, err
}

// candidates lists the peers and shields to try for key, best first.
func (r *Router) candidates(key string, noPeers bool, inHop int) []hop {
	var out []hop
	if r.cfg.Role != cluster.RoleEdge || inHop >= MaxHops {
		return nil // shields fetch from the origin; nothing may go further
	}
	var self string
	if r.cfg.Members != nil {
		self = r.cfg.Members.Self().Name
		if !noPeers {
			// The owner, or — if it is locally known down — whoever takes
			// over from it; never more than two peers, and never past
			// this node's own rank (then this node is the owner).
			for _, m := range r.cfg.Members.Owners(cluster.RoleEdge, key, 3) {
				if m.Name == self || len(out) == 2 {
					break
				}
				if !r.isDown(m.HTTP) {
					out = append(out, hop{m.Name, strings.TrimRight(m.HTTP, "/"), "peer"})
				}
			}
		}
		for _, m := range r.cfg.Members.Owners(cluster.RoleShield, key, 2) {
			if m.Name != self && !r.isDown(m.HTTP) {
				out = append(out, hop{m.Name, strings.TrimRight(m.HTTP, "/"), "shield"})
			}
		}
		if len(out) > 0 && out[len(out)-1].tier == "shield" {
			return out
		}
	}
	for _, n := range r.shields.Candidates(key, 2) {
		if !r.isDown(n.Name) {
			out = append(out, hop{n.Name, n.Name, "shield"})
		}
	}
	return out
}

// try fetches from one peer or shield. A connect error, a timeout, a 5xx
// (except a 503 to a blocking reload) or a 508 fails; any other answer,
// 404 included, is the answer.
func (r *Router) try(ctx context.Context, h hop, req *upstream.Request) (*upstream.Response, error) {
	out := *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = http.Header{}
	}
	out.Header.Set(HopHeader, strconv.Itoa(req.Hop+1))
	if r.cfg.Signer != nil && (strings.HasPrefix(req.Path, "/live/") || strings.HasPrefix(req.Path, "/replay/")) {
		tok, err := r.cfg.Signer.Sign(req.Path, time.Now().Add(time.Minute))
		if err != nil {
			return nil, err
		}
		if out.Query == "" {
			out.Query = tok
		} else {
			out.Query += "&" + tok
		}
	}
	start := time.Now()
	resp, cancel, err := upstream.Get(ctx, r.rt, h.base, &out, r.cfg.ResponseHeaderTimeout)
	if err != nil {
		if ctx.Err() == nil {
			r.metrics.fetches.WithLabelValues(h.tier, "error").Inc()
		}
		return nil, err
	}
	if upstream.Failed(resp.StatusCode, req) || resp.StatusCode == http.StatusLoopDetected {
		upstream.Discard(resp.Body, cancel)
		r.metrics.fetches.WithLabelValues(h.tier, "error").Inc()
		return nil, &upstream.StatusError{Origin: h.base, Status: resp.StatusCode}
	}
	r.metrics.fetches.WithLabelValues(h.tier, "ok").Inc()
	r.metrics.latency.WithLabelValues(h.tier).Observe(time.Since(start).Seconds())
	return &upstream.Response{Status: resp.StatusCode, Header: resp.Header, Body: upstream.NewBody(resp.Body, cancel),
		Peer: h.tier == "peer"}, nil
}

func (r *Router) isDown(base string) bool {
	base = strings.TrimRight(base, "/")
	r.mu.Lock()
	defer r.mu.Unlock()
	until, ok := r.down[base]
	if ok && time.Now().After(until) {
		delete(r.down, base)
		return false
	}
	return ok
}

func (r *Router) markDown(base string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down[base] = time.Now().Add(r.cfg.DownFor)
}

// Close releases idle connections.
func (r *Router) Close() { r.rt.CloseIdleConnections() }

// Errors of CheckHops.
var (
	// ErrBadHop is a hop header that is not a small non-negative number.
	ErrBadHop = errors.New("bad " + HopHeader + " header")
	// ErrLoop is a request that went too far or passed this node before.
	ErrLoop = errors.New("loop detected")
)

// CheckHops validates the hop header and Via chain of an incoming request
// for node self. It returns the hop count, or ErrBadHop, or ErrLoop when
// the count is over MaxHops or self already appears in Via (a loop through
// misconfigured origins, which carry no hop header).
func CheckHops(hop, via []byte, self string) (int, error) {
	n := 0
	if len(hop) > 0 {
		if len(hop) > 3 {
			return 0, ErrBadHop
		}
		for _, c := range hop {
			if c < '0' || c > '9' {
				return 0, ErrBadHop
			}
			n = n*10 + int(c-'0')
		}
		if n > MaxHops {
			return 0, fmt.Errorf("%w: %d hops", ErrLoop, n)
		}
	}
	for len(via) > 0 {
		var part []byte
		if i := bytes.IndexByte(via, ','); i >= 0 {
			part, via = via[:i], via[i+1:]
		} else {
			part, via = via, nil
		}
		part = bytes.TrimSpace(part)
		// "1.1 name" or "HTTP/1.1 name", optionally followed by a comment.
		if _, rest, ok := bytes.Cut(part, []byte(" ")); ok {
			name, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
			if string(name) == self {
				return 0, fmt.Errorf("%w: the request already passed %s", ErrLoop, self)
			}
		}
	}
	return n, nil
}
