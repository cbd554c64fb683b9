package edge

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"

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
func (s *Server) legFor(path string, hop int, via string) leg {
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
// (route.CheckHops). It returns the Via header to send upstream.
func (s *Server) hops(ctx *fasthttp.RequestCtx) (hop int, via string, ok bool) {
	in := ctx.Request.Header.Peek("Via")
	hop, err := route.CheckHops(ctx.Request.Header.Peek(route.HopHeader), in, s.cfg.NodeName)
	switch {
	case errors.Is(err, route.ErrLoop):
		s.fail(ctx, http.StatusLoopDetected, err.Error())
		return 0, "", false
	case err != nil:
		s.fail(ctx, http.StatusBadRequest, err.Error())
		return 0, "", false
	}
	self := "1.1 " + s.cfg.NodeName
	if len(in) > 0 {
		return hop, string(in) + ", " + self, true
	}
	return hop, self, true
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

// serveDrain answers POST /admin/drain: readiness fails at once, and the
// process drains (leaves the rings, finishes in-flight responses) and exits.
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
		s.fail(ctx, http.StatusForbidden, "forbidden: admin endpoints need the admin token, or a loopback client")
		return
	}
	s.Drain()
	s.drainOnce.Do(func() { go s.cfg.OnDrain() })
	ctx.Response.Header.Set("Cache-Control", "no-store")
	ctx.SetStatusCode(http.StatusAccepted)
	ctx.SetBodyString("draining\n")
}

// adminAllowed: with an admin token, a matching bearer token; without one,
// only loopback clients (a Kubernetes preStop hook, an operator on the host).
func (s *Server) adminAllowed(ctx *fasthttp.RequestCtx) bool {
	if s.cfg.AdminToken != "" {
		return string(ctx.Request.Header.Peek("Authorization")) == "Bearer "+s.cfg.AdminToken
	}
	ip := ctx.RemoteIP()
	return ip.IsLoopback() || strings.HasPrefix(ctx.RemoteAddr().String(), "@") || ip.Equal(net.IPv6loopback)
}
