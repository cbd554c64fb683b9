package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/livecdn/livecdn/cluster/ring"
	"github.com/livecdn/livecdn/edge/rules"
)

// Tick is one simulated second.
type Tick struct {
	T             float64 `json:"t"`
	LiveEdges     int     `json:"live_edges"`
	Requests      int64   `json:"requests"`
	Hits          int64   `json:"edge_hits"`
	OriginFetches int64   `json:"origin_fetches"`
	// ShieldRequests counts requests reaching the shield tier: keys that
	// moved to a new owner after a failure show up here, not at the origin.
	ShieldRequests int64 `json:"shield_requests"`
	// LoadMaxOverMean is the busiest live edge's requests (viewer and peer)
	// over the mean, this second.
	LoadMaxOverMean float64 `json:"load_max_over_mean"`
}

// Spread summarizes a per-node quantity.
type Spread struct {
	Min, Max, Mean, MaxOverMean float64
}

func spread(v []float64) Spread {
	if len(v) == 0 {
		return Spread{}
	}
	s := Spread{Min: math.Inf(1)}
	for _, x := range v {
		s.Min, s.Max, s.Mean = math.Min(s.Min, x), math.Max(s.Max, x), s.Mean+x
	}
	s.Mean /= float64(len(v))
	if s.Mean > 0 {
		s.MaxOverMean = s.Max / s.Mean
	}
	return s
}

// Result is what a simulation measured.
type Result struct {
	Config           string        `json:"config"`
	Requests         int64         `json:"requests"`
	Objects          int64         `json:"objects"`
	OriginFetches    int64         `json:"origin_fetches"`
	FetchesPerObject float64       `json:"origin_fetches_per_object"`
	MaxPerObject     int           `json:"max_origin_fetches_per_object"`
	EdgeHitRatio     float64       `json:"edge_hit_ratio"`
	PeerHitRatio     float64       `json:"peer_hit_ratio"`   // owner edges answering other edges
	ShieldHitRatio   float64       `json:"shield_hit_ratio"` // -1 without shields
	EdgeLoad         Spread        `json:"edge_load"`        // viewer + peer requests per edge that stayed alive
	EdgeUpstream     Spread        `json:"edge_upstream"`    // upstream requests per edge
	Evictions        int64         `json:"evictions"`
	Ticks            []Tick        `json:"ticks"`
	Events           []string      `json:"events"`
	Elapsed          time.Duration `json:"elapsed_ns"`
}

// Run simulates cfg.
func Run(cfg Config) (*Result, error) {
	switch {
	case cfg.Viewers < 1 || cfg.Edges < 1:
		return nil, errors.New("sim: want at least one viewer and one edge")
	case cfg.Part <= 0 || cfg.Segment < cfg.Part || cfg.Duration < cfg.Segment:
		return nil, errors.New("sim: want 0 < part <= segment <= duration")
	case len(cfg.Renditions) == 0:
		return nil, errors.New("sim: no renditions")
	}
	begin := time.Now()
	s := &sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 7)), policy: rules.DefaultPolicy(),
		perObject: map[uint64]int{}, res: &Result{Config: cfg.String()}}
	for i := range cfg.Edges {
		s.addEdge(i)
	}
	s.ringEdges()
	if cfg.Shields > 0 {
		var ns []ring.Node
		for i := range cfg.Shields {
			s.shields = append(s.shields, &node{name: "shield" + strconv.Itoa(i), alive: true, cache: newLRU(cfg.ShieldCacheBytes)})
			ns = append(ns, ring.Node{Name: "shield" + strconv.Itoa(i)})
		}
		s.sring = ring.New(ns)
	}
	s.assign()

	perSeg := int(cfg.Segment / cfg.Part)
	segObjs := map[string]*object{}
	segment := func(r int, num int64) *object {
		p := fmt.Sprintf("/live/s/r%d/seg%d.m4s", r, num)
		o := segObjs[p]
		if o == nil {
			o = s.newObject(p, cfg.Renditions[r].Bitrate*int64(cfg.Segment)/int64(time.Second)/8)
			segObjs[p] = o
		}
		return o
	}
	failures, joins := slices.Clone(cfg.Failures), slices.Clone(cfg.Joins)
	nextTick := time.Second
	for step := int64(0); ; step++ {
		s.now = time.Duration(step) * cfg.Part
		if s.now >= cfg.Duration {
			break
		}
		for len(failures) > 0 && failures[0].At <= s.now {
			s.kill(failures[0].Edges)
			failures = failures[1:]
		}
		for len(joins) > 0 && joins[0].At <= s.now {
			s.join(joins[0].Edges)
			joins = joins[1:]
		}
		msn, part := step/int64(perSeg), int(step%int64(perSeg))
		for r, rd := range cfg.Renditions {
			// LL-HLS: the blocking playlist reload for this part, then the part.
			pl := s.newObject(fmt.Sprintf("/live/s/r%d/index.m3u8?_HLS_msn=%d&_HLS_part=%d", r, msn, part), 4096)
			po := s.newObject(fmt.Sprintf("/live/s/r%d/part%d.%d.m4s", r, msn, part), rd.Bitrate*int64(cfg.Part)/int64(time.Second)/8)
			for e, n := range s.live {
				if n[r] > 0 && s.edges[e].alive {
					s.get(s.edges[e], pl, n[r])
					s.get(s.edges[e], po, n[r])
				}
			}
		}
		if part == perSeg-1 { // a segment completes: HLS viewers reload and fetch it
			for r := range cfg.Renditions {
				so := segment(r, msn)
				// The playlist changed with the segment: a new version of the URL.
				pl := s.newObject(fmt.Sprintf("/live/s/r%d/index.m3u8", r), 4096)
				for e, n := range s.seg {
					if n[r] > 0 && s.edges[e].alive {
						s.get(s.edges[e], pl, n[r])
						s.get(s.edges[e], so, n[r])
					}
				}
			}
			for i := range s.dvr {
				d := &s.dvr[i]
				s.get(s.edges[d.edge], segment(d.rend, d.pos), 1)
				d.pos++
			}
		}
		if s.now+cfg.Part >= nextTick {
			s.endTick(nextTick)
			nextTick += time.Second
		}
	}
	return s.finish(begin), nil
}

func (s *sim) addEdge(i int) {
	s.edges = append(s.edges, &node{name: "edge" + strconv.Itoa(i), alive: true, cache: newLRU(s.cfg.CacheBytes)})
	s.live = append(s.live, make([]int, len(s.cfg.Renditions)))
	s.seg = append(s.seg, make([]int, len(s.cfg.Renditions)))
}

// pickRend draws a rendition by share.
func (s *sim) pickRend() int {
	x, acc := s.rng.Float64(), 0.0
	for r, rd := range s.cfg.Renditions {
		acc += rd.Share
		if x < acc {
			return r
		}
	}
	return len(s.cfg.Renditions) - 1
}

// assign spreads the viewers uniformly over the edges (DNS or anycast).
func (s *sim) assign() {
	segs := int64(30 * time.Minute / s.cfg.Segment)
	for range s.cfg.Viewers {
		e, r := s.rng.IntN(len(s.edges)), s.pickRend()
		switch x := s.rng.Float64(); {
		case x < s.cfg.DVRShare:
			s.dvr = append(s.dvr, dvrViewer{edge: e, rend: r, pos: -s.rng.Int64N(segs)})
		case x < s.cfg.DVRShare+(1-s.cfg.DVRShare)*s.cfg.LLShare:
			s.live[e][r]++
		default:
			s.seg[e][r]++
		}
	}
}

func (s *sim) aliveEdges() []int {
	var out []int
	for i, e := range s.edges {
		if e.alive {
			out = append(out, i)
		}
	}
	return out
}

// kill crashes n random live edges: caches gone, viewers move to the others.
func (s *sim) kill(n int) {
	alive := s.aliveEdges()
	n = min(n, len(alive)-1)
	s.rng.Shuffle(len(alive), func(i, j int) { alive[i], alive[j] = alive[j], alive[i] })
	dead, rest := alive[:n], alive[n:]
	for _, d := range dead {
		s.edges[d].alive = false
		for r := range s.cfg.Renditions {
			for range s.live[d][r] {
				s.live[rest[s.rng.IntN(len(rest))]][r]++
			}
			for range s.seg[d][r] {
				s.seg[rest[s.rng.IntN(len(rest))]][r]++
			}
			s.live[d][r], s.seg[d][r] = 0, 0
		}
	}
	for i := range s.dvr {
		if !s.edges[s.dvr[i].edge].alive {
			s.dvr[i].edge = rest[s.rng.IntN(len(rest))]
		}
	}
	s.ringEdges()
	s.res.Events = append(s.res.Events, fmt.Sprintf("t=%v: %d edges died", s.now, n))
}

// join adds n edges with empty caches; DNS sends each its share of viewers.
func (s *sim) join(n int) {
	old := s.aliveEdges()
	first := len(s.edges)
	for i := range n {
		s.addEdge(first + i)
	}
	total := len(old) + n
	for _, o := range old {
		for r := range s.cfg.Renditions {
			for _, counts := range [][][]int{s.live, s.seg} {
				move := counts[o][r] * n / total
				counts[o][r] -= move
				for range move {
					counts[first+s.rng.IntN(n)][r]++
				}
			}
		}
	}
	s.ringEdges()
	s.res.Events = append(s.res.Events, fmt.Sprintf("t=%v: %d edges joined", s.now, n))
}

func (s *sim) endTick(at time.Duration) {
	var loads []float64
	for _, e := range s.edges {
		if e.alive {
			loads = append(loads, float64(e.second))
		}
		e.second = 0
	}
	s.tick.T, s.tick.LiveEdges = at.Seconds(), len(loads)
	s.tick.LoadMaxOverMean = spread(loads).MaxOverMean
	s.res.Ticks = append(s.res.Ticks, s.tick)
	s.tick = Tick{}
}

func (s *sim) finish(begin time.Time) *Result {
	r := s.res
	r.Requests, r.Objects, r.OriginFetches, r.MaxPerObject = s.requests, int64(len(s.perObject)), s.originFetches, s.maxPerObject
	if r.Objects > 0 {
		r.FetchesPerObject = float64(s.originFetches) / float64(r.Objects)
	}
	var hits, reqs, phits, preqs int64
	var load, up []float64
	for _, e := range s.edges {
		hits, reqs, phits, preqs = hits+e.hits, reqs+e.requests, phits+e.peerHits, preqs+e.peerReqs
		r.Evictions += e.cache.evicted
		if e.alive {
			load = append(load, float64(e.requests+e.peerReqs))
			up = append(up, float64(e.upstream))
		}
	}
	r.EdgeHitRatio = ratio(hits, reqs)
	r.PeerHitRatio = ratio(phits, preqs)
	r.ShieldHitRatio = -1
	if len(s.shields) > 0 {
		var sh, sr int64
		for _, n := range s.shields {
			sh, sr = sh+n.hits, sr+n.requests
		}
		r.ShieldHitRatio = ratio(sh, sr)
	}
	r.EdgeLoad, r.EdgeUpstream = spread(load), spread(up)
	r.Elapsed = time.Since(begin)
	return r
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return -1
	}
	return float64(a) / float64(b)
}
