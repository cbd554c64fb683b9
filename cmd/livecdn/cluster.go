package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/cluster"
	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/route"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/edge/upstream"
	"github.com/livecdn/livecdn/internal/config"
)

// clusterFlags are the fleet flags of `livecdn edge`.
type clusterFlags struct {
	join, gossipKeys, shields           config.List
	gossip, gossipAdvertise, role, zone string
	advertise, adminToken               string
	weight                              float64
	keys                                [][]byte
	alone                               bool // cluster on without --join: the demo's first edge
}

func (f *clusterFlags) register(fs *flag.FlagSet) {
	d := cluster.DefaultConfig()
	fs.Var(&f.join, "join", "gossip address of a cluster member to join (host:port, or a DNS name resolving to several, e.g. a headless Service); repeatable; clustering is on when set")
	fs.StringVar(&f.gossip, "gossip", d.Bind, "gossip listen address (TCP and UDP)")
	fs.StringVar(&f.gossipAdvertise, "gossip-advertise", "", "gossip address other nodes reach this one at (default: chosen from the interfaces)")
	fs.Var(&f.gossipKeys, "gossip-key", "base64 AES key (16, 24 or 32 bytes) encrypting gossip; repeat to rotate: the first encrypts, all decrypt")
	fs.StringVar(&f.role, "role", cluster.RoleEdge, "edge (serves viewers, owns a share of keys) or shield (edges send their misses to it)")
	fs.Var(&f.shields, "shield", "static shield URL edges send misses to when gossip knows no shield; repeatable")
	fs.StringVar(&f.zone, "zone", "", "zone label gossiped with this node (shown in /cluster)")
	fs.Float64Var(&f.weight, "weight", d.Meta.Weight, "share of keys relative to other nodes (2 = twice an average node)")
	fs.StringVar(&f.advertise, "advertise", "", "HTTP URL peers fetch from (default: http://<interface IP>:<--http port>)")
	fs.StringVar(&f.adminToken, "admin-token", "", "bearer token for POST /admin/drain (without it only loopback clients may drain)")
}

// check validates the flags and decodes the gossip keys.
func (f *clusterFlags) check() error {
	if f.role != cluster.RoleEdge && f.role != cluster.RoleShield {
		return fmt.Errorf("--role %q: want edge or shield", f.role)
	}
	if !(f.weight > 0 && f.weight <= 1000) {
		return fmt.Errorf("--weight %v: want a number in (0, 1000]", f.weight)
	}
	for _, k := range f.gossipKeys {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
			return fmt.Errorf("--gossip-key: want base64 of 16, 24 or 32 bytes (e.g. `head -c32 /dev/urandom | base64`)")
		}
		f.keys = append(f.keys, b)
	}
	if f.advertise != "" {
		if u, err := url.Parse(f.advertise); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--advertise %q: want an http(s) URL", f.advertise)
		}
	}
	return nil
}

// fleetParts are the cluster pieces of a running edge; all nil without
// --join and --shield, when the edge talks to its origins alone.
type fleetParts struct {
	members *cluster.Cluster
	router  *route.Router
	origins upstream.Upstream
}

// start joins the cluster (with --join) and builds the router (with
// --join or --shield).
func (f *clusterFlags) start(name string, httpAddr net.Addr, tls bool, origins upstream.Upstream, signer *token.Signer,
	log *slog.Logger, reg prometheus.Registerer) (*fleetParts, error) {
	p := &fleetParts{origins: origins}
	if len(f.join) == 0 && len(f.shields) == 0 && !f.alone {
		return p, nil
	}
	if len(f.join) > 0 || f.alone {
		ccfg := cluster.DefaultConfig()
		ccfg.NodeName, ccfg.Bind, ccfg.Advertise, ccfg.Join, ccfg.Keys = name, f.gossip, f.gossipAdvertise, f.join, f.keys
		ccfg.Meta = cluster.Meta{HTTP: f.advertiseURL(httpAddr, tls), Role: f.role, Zone: f.zone, Weight: f.weight,
			State: cluster.StateActive}
		ccfg.Logger, ccfg.Registerer = log, reg
		m, err := cluster.New(ccfg)
		if err != nil {
			return nil, err
		}
		p.members = m
	}
	rcfg := route.DefaultConfig()
	rcfg.Role, rcfg.Shields, rcfg.Origins, rcfg.Signer = f.role, f.shields, origins, signer
	rcfg.Logger, rcfg.Registerer = log, reg
	if p.members != nil {
		rcfg.Members = p.members
	}
	r, err := route.New(rcfg)
	if err != nil {
		p.close()
		return nil, usageError{err}
	}
	p.router = r
	return p, nil
}

// advertiseURL is --advertise, or http(s)://host:port of the listener
// with an unspecified host replaced by this machine's first non-loopback
// address (what peers can reach).
func (f *clusterFlags) advertiseURL(addr net.Addr, tls bool) string {
	if f.advertise != "" {
		return f.advertise
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	tcp, _ := addr.(*net.TCPAddr)
	if tcp == nil {
		return scheme + "://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = hostIP()
	}
	return scheme + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// hostIP is the first non-loopback unicast address, or 127.0.0.1.
func hostIP() net.IP {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			return n.IP
		}
	}
	return net.IPv4(127, 0, 0, 1)
}

// wire points the edge at the router and the cluster endpoints.
func (p *fleetParts) wire(cfg *edge.Config) {
	cfg.Upstream = p.origins
	if p.router != nil {
		cfg.Upstream, cfg.Direct, cfg.ViaPeer = p.router, p.router.Direct(), p.router.ViaPeer
	}
	if p.members != nil {
		cfg.Cluster = func() any { return p.members.Status() }
	}
}

// drain takes this node off every ring; peers stop sending it requests.
func (p *fleetParts) drain() {
	if p.members != nil {
		p.members.Drain()
	}
}

// settle gives the drain a moment to spread before the listener closes:
// peers that have not heard yet still get answers. A few gossip rounds.
func (p *fleetParts) settle(ctx context.Context) {
	if p.members == nil {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(500 * time.Millisecond):
	}
}

// leave says goodbye to the cluster.
func (p *fleetParts) leave() {
	if p.members != nil {
		p.members.Leave(time.Second)
		p.members = nil
	}
}

func (p *fleetParts) close() {
	if p.members != nil {
		p.members.Close()
	}
	if p.router != nil {
		p.router.Close()
	}
}
