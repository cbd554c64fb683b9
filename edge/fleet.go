package edge

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/valyala/fasthttp"

	"github.com/livecdn/livecdn/edge/coalesce"
	"github.com/livecdn/livecdn/edge/follow"
	"github.com/livecdn/livecdn/edge/route"
	"github.com/livecdn/livecdn/edge/rules"
	"github.com/livecdn/livecdn/edge/upstream"
)

// leg is where one request's miss goes, with the flights and followers
// that belong to that way. Misses that wait on a peer edge and misses that
// do not never share a flight or a follower: if two nodes briefly disagree
// about who owns a key, each sends its viewers' miss to the other, and the
// other answers that peer request from its direct flight instead of
// joining the flight that waits on the first node.
type leg struct {
	up      upstream.Upstream
	flights *coalesce.Group
	follow  *follow.Registry
	hop     int    // hops the request made before reaching this node
	via     string // Via header to send upstream
}

// fleet is the edge's cluster side: the direct flights and followers, and
// the admission filter for copies fetched from a peer.
type fleet struct {
	direct        upstream.Upstream
	flightsDirect *coalesce.Group
	followDirect  *follow.Registry
	seen          *lru.Cache[string, struct{}] // keys asked for once already
}

func newFleet(cfg Config, fcfg follow.Config) fleet {
	f := fleet{direct: cfg.Direct, flightsDirect: coalesce.New()}
	if f.direct == nil {
		f.direct = cfg.Upstream
	}
	f.followDirect = follow.NewRegistry(f.direct, fcfg)
	f.seen, _ = lru.New[string, struct{}](1 << 16)
	return f
}

func (f fleet) close() {
	f.followDirect.Close()
	f.flightsDirect.Close()
}

// legFor picks the way a request's miss goes.
func (s *Server) legFor(path string, hop int, viaIn []byte) leg {
	// Built on a miss only: a hit needs no upstream Via.
	via := string(s.via)
	if len(viaIn) > 0 {
		via = string(viaIn) + ", " + via
	}
	if hop == 0 && s.cfg.ViaPeer != nil && s.cfg.ViaPeer(path) {
		return leg{up: s.cfg.Upstream, flights: s.flights, follow: s.follow, via: via}
	}
	return leg{up: s.fleet.direct, flights: s.fleet.flightsDirect, follow: s.fleet.followDirect, hop: hop, via: via}
}

// admit says whether a copy a peer edge sent is worth caching here too:
// playlists always (they are small and short-lived), media once the key
// was asked for before, so only hot objects are held twice in the fleet.
func (s *Server) admit(kind rules.Kind, key string) bool {
	if kind != rules.Media {
		return true
	}
	if s.fleet.seen.Contains(key) {
		return true
	}
	s.fleet.seen.Add(key, struct{}{})
	return false
}

// hops reads the hop count and Via chain of a request and refuses loops
// and unauthenticated hop counts (route.CheckHops).
func (s *Server) hops(ctx *fasthttp.RequestCtx, path string) (hop int, ok bool) {
	h := &ctx.Request.Header
	hop, err := route.CheckHops(route.Hops{Hop: h.Peek(route.HopHeader), Via: h.Peek("Via"), Auth: h.Peek(route.HopAuthHeader), Path: path},
		s.cfg.NodeName, s.cfg.HopSecrets)
	switch {
	case errors.Is(err, route.ErrLoop):
		s.fail(ctx, http.StatusLoopDetected, err.Error())
		return 0, false
	case err != nil:
		s.fail(ctx, http.StatusBadRequest, err.Error())
		return 0, false
	}
	return hop, true
}

// serveCluster answers /cluster with the membership as JSON.
func (s *Server) serveCluster(ctx *fasthttp.RequestCtx) {
	if s.cfg.Cluster == nil {
		s.fail(ctx, http.StatusNotFound, "not in a cluster")
		return
	}
	b, err := json.MarshalIndent(s.cfg.Cluster(), "", "  ")
	if err != nil {
		s.fail(ctx, http.StatusInternalServerError, err.Error())
		return
	}
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(append(b, '\n'))
}

// serveDrain answers /admin/drain: on POST, readiness fails at once, and
// the process drains (leaves the rings, finishes in-flight responses) and
// exits.
func (s *Server) serveDrain(ctx *fasthttp.RequestCtx) {
	switch {
	case s.cfg.OnDrain == nil:
		s.fail(ctx, http.StatusNotFound, "draining is not wired")
		return
	case !ctx.IsPost():
		ctx.Response.Header.Set("Allow", "POST")
		s.fail(ctx, http.StatusMethodNotAllowed, "POST to drain")
		return
	case !s.adminAllowed(ctx):
		s.fail(ctx, http.StatusForbidden, "forbidden: admin endpoints need the admin token, or a direct loopback client")
		return
	}
	s.Drain()
	s.drainOnce.Do(func() { go s.cfg.OnDrain() })
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(http.StatusAccepted)
	ctx.SetBodyString("draining\n")
}

// adminAllowed: with an admin token, a matching bearer token; without one,
// only a loopback client that is neither a proxy forwarding someone else's
// request nor a web page (browsers send Origin on cross-site POSTs).
func (s *Server) adminAllowed(ctx *fasthttp.RequestCtx) bool {
	h := &ctx.Request.Header
	if s.cfg.AdminToken != "" {
		return subtle.ConstantTimeCompare(h.Peek("Authorization"), []byte("Bearer "+s.cfg.AdminToken)) == 1
	}
	for _, name := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip", "Via", "Origin"} {
		if len(h.Peek(name)) > 0 {
			return false
		}
	}
	return ctx.RemoteIP().IsLoopback()
}
