package cluster

// Status is what GET /cluster shows: this node's view of the fleet.
type Status struct {
	// Self is this node's name.
	Self string `json:"self"`
	// Members are every known node, sorted by name.
	Members []MemberStatus `json:"members"`
}

// MemberStatus is one member with its expected share of its role's keys.
type MemberStatus struct {
	Member
	// Share is the fraction of its role's keys the node owns (0 when
	// draining): its weight over the sum of its role's active weights.
	Share float64 `json:"share"`
}

// Status returns this node's view of the cluster.
func (c *Cluster) Status() Status {
	v := c.view.Load()
	st := Status{Self: c.cfg.NodeName, Members: make([]MemberStatus, 0, len(v.members))}
	for _, m := range v.members {
		ms := MemberStatus{Member: m}
		if r := v.rings[m.Role]; r != nil && m.State == StateActive {
			ms.Share = r.Share(m.Name)
		}
		st.Members = append(st.Members, ms)
	}
	return st
}
