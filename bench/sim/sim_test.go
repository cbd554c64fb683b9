package sim

import (
	"testing"
	"time"
)

func small() Config {
	c := DefaultConfig()
	c.Viewers, c.Edges, c.Duration = 2000, 10, 20*time.Second
	c.Failures, c.Joins, c.DVRShare = nil, nil, 0
	return c
}

// With one edge and no cache every viewer request reaches the origin.
func TestTrivialBound(t *testing.T) {
	c := small()
	c.Edges, c.Shields, c.Cluster, c.CacheBytes = 1, 0, false, 0
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.OriginFetches != r.Requests || r.Requests == 0 {
		t.Fatalf("origin fetches %d, requests %d: want equal", r.OriginFetches, r.Requests)
	}
}

// Through the cluster (owner edges, one shield tier) each object leaves the
// origin once; without cluster or shield every edge fetches it.
func TestOneFetchPerObject(t *testing.T) {
	for _, tc := range []struct {
		name            string
		shields         int
		cluster         bool
		wantPerObject   float64
		exactlyOnePerID bool
	}{
		{"cluster+shield", 2, true, 1, true},
		{"cluster only", 0, true, 1, true},
		{"shield only", 2, false, 1, true},
		{"independent edges", 0, false, 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := small()
			c.Shields, c.Cluster = tc.shields, tc.cluster
			r, err := Run(c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("requests %d objects %d origin %d (%.3f/object, max %d) edge hit %.4f",
				r.Requests, r.Objects, r.OriginFetches, r.FetchesPerObject, r.MaxPerObject, r.EdgeHitRatio)
			if tc.exactlyOnePerID && (r.FetchesPerObject != 1 || r.MaxPerObject != 1) {
				t.Fatalf("%.3f fetches per object (max %d), want exactly 1", r.FetchesPerObject, r.MaxPerObject)
			}
			if !tc.exactlyOnePerID && r.FetchesPerObject < 0.9*tc.wantPerObject {
				t.Fatalf("%.3f fetches per object, want about %v (one per edge)", r.FetchesPerObject, tc.wantPerObject)
			}
		})
	}
}

// A failure moves the dead edges' keys to new owners, which fetch them from
// the shield, never from the origin again.
func TestEdgeFailure(t *testing.T) {
	c := small()
	c.Failures = []Change{{At: 10 * time.Second, Edges: 3}}
	c.Joins = []Change{{At: 15 * time.Second, Edges: 2}}
	r, err := Run(c)
	if err != nil {
		t.Fatal(err)
	}
	if r.MaxPerObject != 1 {
		t.Fatalf("max %d origin fetches per object after failures, want 1", r.MaxPerObject)
	}
	last := r.Ticks[len(r.Ticks)-1]
	if last.LiveEdges != 9 {
		t.Fatalf("%d live edges at the end, want 10-3+2", last.LiveEdges)
	}
	if len(r.Events) != 2 {
		t.Fatalf("events %v", r.Events)
	}
}
