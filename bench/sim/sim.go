// Package sim is the fleet simulator of `livecdn bench sim`: a
// discrete-event model of up to millions of viewers over hundreds of edges,
// an optional shield tier and one origin. It uses the real owner choice
// (cluster/ring) and the real cache rules (edge/rules: which objects are
// immutable, how long a playlist stays fresh), and a byte-bounded LRU with
// edge/cache's eviction. Viewers are counted per edge and rendition rather
// than simulated one by one (all live viewers of an edge ask for the same
// object within a part, and the edge answers them from one fetch), except
// for DVR viewers, whose positions differ and are tracked individually.
// It reports origin fetches per object, hit ratios per tier, the load spread
// over edges, and how these move when edges die or join.
package sim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/livecdn/livecdn/cluster/ring"
	"github.com/livecdn/livecdn/edge/rules"
)

// Rendition is one rung of the ladder.
type Rendition struct {
	Bitrate int64   // bits/s
	Share   float64 // fraction of viewers
}

// Change is a fleet change at a simulated time.
type Change struct {
	At    time.Duration
	Edges int
}

// Config is one simulation.
type Config struct {
	Viewers int
	Edges   int
	// Shields is the shield tier size (0: edges fetch from the origin).
	Shields int
	// Cluster makes an edge fetch a miss from the key's owner edge (by
	// cluster/ring over the live edges) instead of going upstream itself.
	Cluster bool
	// CacheBytes per edge and per shield; 0 means no cache and no
	// coalescing: every viewer request goes upstream (the trivial bound).
	CacheBytes, ShieldCacheBytes int64
	// Duration is simulated time; Part and Segment the packaging.
	Duration, Part, Segment time.Duration
	Renditions              []Rendition
	// LLShare of the live viewers fetch parts (LL-HLS); the others whole
	// segments. DVRShare of all viewers watch the archive (30 min back).
	LLShare, DVRShare float64
	Failures, Joins   []Change
	Seed              uint64
}

// DefaultConfig is 1,000,000 viewers on 200 edges with 2 shields in a cluster.
func DefaultConfig() Config {
	return Config{
		Viewers: 1_000_000, Edges: 200, Shields: 2, Cluster: true,
		CacheBytes: 512 << 20, ShieldCacheBytes: 4 << 30,
		Duration: 120 * time.Second, Part: 200 * time.Millisecond, Segment: 2 * time.Second,
		Renditions: []Rendition{{400_000, 0.1}, {1_200_000, 0.2}, {2_500_000, 0.3}, {5_000_000, 0.4}},
		LLShare:    0.8, DVRShare: 0.02,
		Failures: []Change{{At: 40 * time.Second, Edges: 10}},
		Joins:    []Change{{At: 80 * time.Second, Edges: 10}},
		Seed:     1,
	}
}

// node is an edge or a shield.
type node struct {
	name     string
	alive    bool
	cache    *lru
	requests int64 // from viewers (edges) or edges (shields)
	hits     int64
	peerReqs int64 // from other edges, as the key's owner
	peerHits int64
	upstream int64 // requests this node sent upstream
	second   int64 // requests this second (load spread over time)
}

// object is one URL at one moment.
type object struct {
	id    uint64
	path  string
	size  int64
	ttl   time.Duration
	owner [2]int // edge and shield index, for ringVer
	ver   int
}

type sim struct {
	cfg     Config
	rng     *rand.Rand
	now     time.Duration
	edges   []*node
	shields []*node
	ering   *ring.Ring
	sring   *ring.Ring
	eidx    map[string]int
	ver     int
	// live[e][r] and seg[e][r] count viewers by edge and rendition.
	live, seg [][]int
	dvr       []dvrViewer
	nextID    uint64
	policy    rules.Policy

	originFetches int64
	perObject     map[uint64]int
	maxPerObject  int
	requests      int64
	res           *Result
	tick          Tick
}

type dvrViewer struct {
	edge, rend int
	pos        int64 // segment number (negative: before the simulation began)
}

func (s *sim) ringEdges() {
	var ns []ring.Node
	s.eidx = map[string]int{}
	for i, e := range s.edges {
		if e.alive {
			ns = append(ns, ring.Node{Name: e.name})
			s.eidx[e.name] = i
		}
	}
	s.ering = ring.New(ns)
	s.ver++
}

// newObject makes an object and works out its freshness with the edge's
// real rules, from the headers our origin sends.
func (s *sim) newObject(path string, size int64) *object {
	s.nextID++
	kind := rules.Classify(path)
	h := http.Header{}
	var body []byte
	if kind == rules.Media {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "public, max-age=1")
		body = []byte("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=" + strconv.FormatFloat(s.cfg.Part.Seconds(), 'f', 3, 64) + "\n")
	}
	ttl, ok := s.policy.Freshness(kind, http.StatusOK, h, body)
	if !ok {
		ttl = -1
	}
	return &object{id: s.nextID, path: path, size: size, ttl: ttl, ver: -1}
}

func (s *sim) owners(o *object) {
	if o.ver == s.ver {
		return
	}
	o.ver = s.ver
	if n, ok := s.ering.Owner(o.path); ok {
		o.owner[0] = s.eidx[n.Name]
	}
	if s.sring != nil {
		n, _ := s.sring.Owner(o.path)
		o.owner[1], _ = strconv.Atoi(n.Name[len("shield"):])
	}
}

// get serves n viewer requests for o at edge e.
func (s *sim) get(e *node, o *object, n int) {
	e.requests += int64(n)
	e.second += int64(n)
	s.requests += int64(n)
	s.tick.Requests += int64(n)
	if s.cfg.CacheBytes <= 0 {
		for range n {
			e.upstream++
			s.fromEdge(e, o)
		}
		return
	}
	if o.ttl >= 0 && e.cache.get(o.id, s.now) {
		e.hits += int64(n)
		s.tick.Hits += int64(n)
		return
	}
	// One miss; the other n-1 requests wait on it (coalesced) and count as hits.
	e.hits += int64(n - 1)
	s.tick.Hits += int64(n - 1)
	e.upstream++
	s.fromEdge(e, o)
	if o.ttl >= 0 {
		e.cache.add(o.id, o.size, s.now, o.ttl)
	}
}

// fromEdge is an edge's upstream fetch: the owner edge in a cluster, else
// the shield tier, else the origin.
func (s *sim) fromEdge(e *node, o *object) {
	if s.cfg.Cluster && s.ering.Len() > 1 {
		s.owners(o)
		if ow := s.edges[o.owner[0]]; ow != e {
			ow.peerReqs++
			ow.second++
			if s.cfg.CacheBytes > 0 && o.ttl >= 0 && ow.cache.get(o.id, s.now) {
				ow.peerHits++
				return
			}
			ow.upstream++
			s.toShield(o)
			if s.cfg.CacheBytes > 0 && o.ttl >= 0 {
				ow.cache.add(o.id, o.size, s.now, o.ttl)
			}
			return
		}
	}
	s.toShield(o)
}

func (s *sim) toShield(o *object) {
	if len(s.shields) == 0 {
		s.origin(o)
		return
	}
	s.owners(o)
	sh := s.shields[o.owner[1]]
	sh.requests++
	s.tick.ShieldRequests++
	if o.ttl >= 0 && sh.cache.get(o.id, s.now) {
		sh.hits++
		return
	}
	sh.upstream++
	s.origin(o)
	if o.ttl >= 0 {
		sh.cache.add(o.id, o.size, s.now, o.ttl)
	}
}

func (s *sim) origin(o *object) {
	s.originFetches++
	s.tick.OriginFetches++
	c := s.perObject[o.id] + 1
	s.perObject[o.id] = c
	s.maxPerObject = max(s.maxPerObject, c)
}

// String is a one-line description of the fleet.
func (c Config) String() string {
	return fmt.Sprintf("%d viewers, %d edges, %d shields, cluster %v, cache %d MiB/edge, %v simulated",
		c.Viewers, c.Edges, c.Shields, c.Cluster, c.CacheBytes>>20, c.Duration)
}
