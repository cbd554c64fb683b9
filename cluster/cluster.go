// Package cluster is the edge fleet's membership: nodes find each other by
// gossip (hashicorp/memberlist), announce their HTTP address, role, zone,
// weight and state, and every node keeps, per role, a hash ring of the
// active members (package ring) that says which node owns a cache key.
// Draining takes a node out of every ring before it leaves.
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/livecdn/livecdn/cluster/ring"
)

// Member is one node as this node sees it.
type Member struct {
	// Name is the node's name (its identity on the rings).
	Name string `json:"name"`
	// Gossip is its gossip address.
	Gossip string `json:"gossip"`
	Meta
}

// Cluster is this node's membership in the fleet.
type Cluster struct {
	cfg  Config
	ml   *memberlist.Memberlist
	view atomic.Pointer[view]

	mu      sync.Mutex
	members map[string]Member // every live node with valid metadata, self included
	meta    Meta              // this node's metadata, as gossiped

	metrics *metrics
	stop    chan struct{}
	done    chan struct{}
	left    atomic.Bool
}

// view is an immutable snapshot: members and the ring of each role.
type view struct {
	members []Member // sorted by name
	rings   map[string]*ring.Ring
	byName  map[string]Member
}

// New starts gossiping on cfg.Bind and joins cfg.Join. Not reaching anyone
// is not an error: the node runs alone and keeps trying (it may be the
// first of its cluster, or the others may come up later).
func New(cfg Config) (*Cluster, error) {
	cfg = cfg.withDefaults()
	if cfg.NodeName == "" {
		return nil, errors.New("cluster: node name is empty")
	}
	if err := cfg.Meta.Validate(); err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, members: map[string]Member{}, meta: cfg.Meta,
		stop: make(chan struct{}), done: make(chan struct{})}
	c.view.Store(&view{rings: map[string]*ring.Ring{}, byName: map[string]Member{}})
	mc, err := c.memberlistConfig()
	if err != nil {
		return nil, err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip on %s: %w", cfg.Bind, err)
	}
	c.ml = ml
	c.metrics = newMetrics(cfg.Registerer, c)
	c.join()
	go c.rejoinLoop()
	return c, nil
}

func (c *Cluster) memberlistConfig() (*memberlist.Config, error) {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.cfg.NodeName
	host, port, err := splitHostPort(c.cfg.Bind, 7946)
	if err != nil {
		return nil, fmt.Errorf("cluster: gossip address %q: %w", c.cfg.Bind, err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	mc.BindAddr, mc.BindPort, mc.AdvertisePort = host, port, port
	if c.cfg.Advertise != "" {
		ah, ap, err := splitHostPort(c.cfg.Advertise, port)
		if err != nil {
			return nil, fmt.Errorf("cluster: advertise address %q: %w", c.cfg.Advertise, err)
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	if len(c.cfg.Keys) > 0 {
		kr, err := memberlist.NewKeyring(c.cfg.Keys, c.cfg.Keys[0])
		if err != nil {
			return nil, fmt.Errorf("cluster: gossip key: %w", err)
		}
		mc.Keyring = kr
	}
	mc.ProbeInterval, mc.ProbeTimeout = c.cfg.ProbeInterval, c.cfg.ProbeTimeout
	mc.SuspicionMult, mc.GossipInterval = c.cfg.SuspicionMult, c.cfg.GossipInterval
	mc.SuspicionMaxTimeoutMult = c.cfg.SuspicionMaxMult
	// A node restarted under its name but at a new address (a rescheduled
	// pod) may take the name back once the old incarnation is this old.
	mc.DeadNodeReclaimTime = 10 * time.Second
	mc.Delegate = delegate{c}
	mc.Events = events{c}
	mc.Logger = newMemberlistLogger(c.cfg.Logger)
	return mc, nil
}

// splitHostPort parses "host:port", ":port" or "host" (with def as port).
func splitHostPort(s string, def int) (string, int, error) {
	host, p, err := net.SplitHostPort(s)
	if err != nil {
		if ae, ok := err.(*net.AddrError); ok && ae.Err == "missing port in address" {
			return s, def, nil
		}
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return host, port, nil
}

// join contacts the configured nodes; failures are logged, not fatal.
func (c *Cluster) join() {
	if len(c.cfg.Join) == 0 {
		return
	}
	n, err := c.ml.Join(c.cfg.Join)
	if err != nil {
		c.cfg.Logger.Warn("cluster: cannot join (running alone, retrying; a gossip key mismatch looks like this too)",
			"join", c.cfg.Join, "err", err)
		return
	}
	c.cfg.Logger.Info("cluster: joined", "contacted", n, "members", c.ml.NumMembers())
}

// rejoinLoop joins again whenever this node finds itself alone.
func (c *Cluster) rejoinLoop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			if c.ml.NumMembers() <= 1 && !c.left.Load() {
				c.join()
			}
		}
	}
}

// Self returns this node as the cluster sees it.
func (c *Cluster) Self() Member {
	// Never call memberlist with c.mu held: memberlist calls the event
	// delegate, which takes c.mu, with its own lock held.
	gossip := c.ml.LocalNode().Address()
	c.mu.Lock()
	defer c.mu.Unlock()
	return Member{Name: c.cfg.NodeName, Gossip: gossip, Meta: c.meta}
}

// Members returns every known node, sorted by name.
func (c *Cluster) Members() []Member { return slices.Clone(c.view.Load().members) }

// Owners returns up to n active members of role that should serve key,
// best first: the owner, then who takes over if it fails.
func (c *Cluster) Owners(role, key string, n int) []Member {
	v := c.view.Load()
	r := v.rings[role]
	if r == nil {
		return nil
	}
	nodes := r.Candidates(key, n)
	out := make([]Member, len(nodes))
	for i, nd := range nodes {
		out[i] = v.byName[nd.Name]
	}
	return out
}

// Owner returns the active member of role owning key.
func (c *Cluster) Owner(role, key string) (Member, bool) {
	v := c.view.Load()
	r := v.rings[role]
	if r == nil {
		return Member{}, false
	}
	nd, ok := r.Owner(key)
	return v.byName[nd.Name], ok
}

// Drain marks this node draining: every node (this one included) takes it
// off the rings within a gossip round, so no peer sends it new requests,
// while it keeps serving what it has. Drain is idempotent.
func (c *Cluster) Drain() error {
	c.mu.Lock()
	already := c.meta.State == StateDraining
	c.meta.State = StateDraining
	c.mu.Unlock()
	if already {
		return nil
	}
	c.cfg.Logger.Info("cluster: draining: this node owns no keys from now on", "node", c.cfg.NodeName)
	return c.ml.UpdateNode(time.Second)
}

// Draining reports whether Drain was called.
func (c *Cluster) Draining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta.State == StateDraining
}

// Leave tells the cluster this node is going, waiting up to timeout for
// the message to spread, then stops gossiping.
func (c *Cluster) Leave(timeout time.Duration) error {
	c.left.Store(true)
	err := c.ml.Leave(timeout)
	c.cfg.Logger.Info("cluster: left", "node", c.cfg.NodeName)
	return errors.Join(err, c.Close())
}

// Close stops gossiping without a goodbye (others notice by probing).
func (c *Cluster) Close() error {
	select {
	case <-c.stop:
		return nil
	default:
	}
	close(c.stop)
	<-c.done
	return c.ml.Shutdown()
}

// set records a live node's metadata and rebuilds the view.
func (c *Cluster) set(n *memberlist.Node) {
	meta, err := decodeMeta(n.Meta)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.members, n.Name)
		c.cfg.Logger.Warn("cluster: ignoring a node with bad metadata", "node", n.Name, "addr", n.Address(), "err", err)
	} else {
		c.members[n.Name] = Member{Name: n.Name, Gossip: n.Address(), Meta: meta}
	}
	c.rebuild()
}

// remove forgets a node that left or died and rebuilds the view.
func (c *Cluster) remove(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.members, name)
	c.rebuild()
}

// rebuild publishes a new view; c.mu is held.
func (c *Cluster) rebuild() {
	v := &view{rings: map[string]*ring.Ring{}, byName: make(map[string]Member, len(c.members))}
	nodes := map[string][]ring.Node{}
	for _, m := range c.members {
		v.members = append(v.members, m)
		v.byName[m.Name] = m
		if m.State == StateActive {
			nodes[m.Role] = append(nodes[m.Role], ring.Node{Name: m.Name, Weight: m.Weight})
		}
	}
	slices.SortFunc(v.members, func(a, b Member) int { return cmp.Compare(a.Name, b.Name) })
	for role, ns := range nodes {
		slices.SortFunc(ns, func(a, b ring.Node) int { return cmp.Compare(a.Name, b.Name) })
		v.rings[role] = ring.New(ns)
	}
	c.view.Store(v)
}
