package cluster

import (
	"encoding/json"
	"fmt"
	"net/url"
)

// Roles a node can have.
const (
	// RoleEdge serves viewers and owns a share of the cache keys.
	RoleEdge = "edge"
	// RoleShield sits between the edges and the origin: edges send their
	// misses to the shield that owns the key, shields fetch from the origin.
	RoleShield = "shield"
)

// States a node can be in.
const (
	// StateActive nodes own keys.
	StateActive = "active"
	// StateDraining nodes finish what they serve but own no keys, so peers
	// stop sending them requests before they leave.
	StateDraining = "draining"
)

// MaxMetaSize is memberlist's limit on node metadata.
const MaxMetaSize = 512

// Meta is what a node tells the others about itself, gossiped with its
// membership (JSON, at most MaxMetaSize bytes).
type Meta struct {
	// HTTP is the base URL peers fetch from, e.g. http://10.0.0.5:8081.
	HTTP string `json:"http"`
	// Role is RoleEdge or RoleShield.
	Role string `json:"role"`
	// Zone is a free-form location label (rack, availability zone).
	Zone string `json:"zone,omitempty"`
	// Weight scales the node's share of keys (1 = an average node).
	Weight float64 `json:"weight"`
	// State is StateActive or StateDraining.
	State string `json:"state"`
}

// Validate reports what is wrong with m, if anything.
func (m Meta) Validate() error {
	u, err := url.Parse(m.HTTP)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("cluster: HTTP address %q is not an http(s) URL", m.HTTP)
	case m.Role != RoleEdge && m.Role != RoleShield:
		return fmt.Errorf("cluster: role %q: want %s or %s", m.Role, RoleEdge, RoleShield)
	case m.State != StateActive && m.State != StateDraining:
		return fmt.Errorf("cluster: state %q: want %s or %s", m.State, StateActive, StateDraining)
	case !(m.Weight > 0 && m.Weight <= 1000):
		return fmt.Errorf("cluster: weight %v: want a number in (0, 1000]", m.Weight)
	}
	b, _ := json.Marshal(m)
	if len(b) > MaxMetaSize {
		return fmt.Errorf("cluster: node metadata is %d bytes, over memberlist's %d", len(b), MaxMetaSize)
	}
	return nil
}

// encode returns m as gossiped.
func (m Meta) encode() []byte {
	b, _ := json.Marshal(m)
	return b
}

// decodeMeta parses a peer's metadata; a node whose metadata does not
// parse or validate is ignored (an old or foreign node on the gossip port).
func decodeMeta(b []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return Meta{}, fmt.Errorf("cluster: bad node metadata: %w", err)
	}
	return m, m.Validate()
}
