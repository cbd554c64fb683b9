package cluster

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config holds every membership tunable; DefaultConfig documents the
// defaults, and New fills any zero field with them.
type Config struct {
	// NodeName identifies this node in the cluster and on the hash ring.
	// Keep it stable across restarts (a StatefulSet pod name, a host name)
	// so a restarted node gets its keys, and its warm cache, back.
	NodeName string
	// Bind is the gossip listen address (TCP and UDP), e.g. ":7946".
	Bind string
	// Advertise is the gossip address other nodes reach this one at, when
	// it differs from Bind (NAT, a pod IP); empty lets memberlist choose.
	Advertise string
	// Join lists nodes to join: host:port, or a DNS name that resolves to
	// several addresses (a Kubernetes headless Service). This node's own
	// address may be among them. Port 7946 is assumed when none is given.
	Join []string
	// Keys encrypt gossip (AES-GCM; each 16, 24 or 32 bytes). The first
	// key encrypts; every key decrypts, which is how a key is rotated:
	// add the new key second on every node, then make it first, then drop
	// the old one. Nil leaves gossip unencrypted.
	Keys [][]byte
	// Meta is what this node announces (HTTP address, role, zone, weight).
	// Its State is managed by Drain.
	Meta Meta

	// RejoinInterval is how often a node that sees no other member tries
	// Join again. Default 2s: an edge started before its peers, or cut off
	// and forgotten, finds the cluster again within this long.
	RejoinInterval time.Duration
	// ProbeInterval is how often each node probes a random other node.
	// Default 500ms (memberlist's LAN default is 1s). Faster probing finds a
	// crashed node sooner at the cost of a few more UDP packets per second
	// per node; it does not need to be very fast, because a fetch that fails
	// against a dead owner falls back at once instead of waiting for gossip.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a probe waits for an ack before asking other
	// nodes to probe indirectly. Default 250ms: loopback and LAN round trips
	// are well under a millisecond; cross-zone links need more.
	ProbeTimeout time.Duration
	// SuspicionMult scales how long a node is suspected before it is
	// declared dead (SuspicionMult × log10(N+1) × ProbeInterval). Default 3:
	// with 3 nodes about 1s from a crash to the node leaving every ring.
	// Lower declares healthy-but-slow nodes dead more often (flapping);
	// higher keeps a dead owner in the ring longer (fetch fallback covers it).
	SuspicionMult int
	// SuspicionMaxMult caps how long a suspicion may last when no other
	// node confirms it, as a multiple of the minimum above. Default 2
	// (memberlist's default 6 kept a crashed node in a 2-node view for
	// 9 s here). Higher tolerates longer partitions before declaring a
	// node dead; a dead node that lingers costs a fallback fetch, not an
	// error, so shorter is the better side to err on.
	SuspicionMaxMult int
	// GossipInterval is how often state changes are gossiped. Default
	// 100ms (LAN default 200ms): joins, drains and leaves reach every ring
	// within a round or two.
	GossipInterval time.Duration

	// Logger receives membership changes; slog.Default() when nil.
	Logger *slog.Logger
	// Registerer receives the cluster metrics; none when nil.
	Registerer prometheus.Registerer
}

// DefaultConfig returns the defaults: gossip on :7946, weight 1, role
// edge, the timings documented on each field.
func DefaultConfig() Config {
	return Config{
		Bind:             ":7946",
		Meta:             Meta{Role: RoleEdge, Weight: 1, State: StateActive},
		RejoinInterval:   2 * time.Second,
		ProbeInterval:    500 * time.Millisecond,
		ProbeTimeout:     250 * time.Millisecond,
		SuspicionMult:    3,
		SuspicionMaxMult: 2,
		GossipInterval:   100 * time.Millisecond,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Bind == "" {
		c.Bind = d.Bind
	}
	if c.Meta.Role == "" {
		c.Meta.Role = d.Meta.Role
	}
	if c.Meta.Weight == 0 {
		c.Meta.Weight = d.Meta.Weight
	}
	c.Meta.State = StateActive
	if c.RejoinInterval <= 0 {
		c.RejoinInterval = d.RejoinInterval
	}
	if c.ProbeInterval <= 0 {
		c.ProbeInterval = d.ProbeInterval
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = d.ProbeTimeout
	}
	if c.SuspicionMult <= 0 {
		c.SuspicionMult = d.SuspicionMult
	}
	if c.SuspicionMaxMult <= 0 {
		c.SuspicionMaxMult = d.SuspicionMaxMult
	}
	if c.GossipInterval <= 0 {
		c.GossipInterval = d.GossipInterval
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}
