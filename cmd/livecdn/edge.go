package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/livecdn/livecdn/edge"
	"github.com/livecdn/livecdn/edge/token"
	"github.com/livecdn/livecdn/edge/upstream"
	"github.com/livecdn/livecdn/internal/config"
)

// edgeFlags are the flags of `livecdn edge`.
type edgeFlags struct {
	configFile, http, tlsCert, tlsKey, signKey, nodeName string
	origins, keepQuery                                   config.List
	cacheSize                                            config.Size
	staleIfError, notFoundTTL, drain                     time.Duration
	prefetch                                             int
	cluster                                              clusterFlags
	log                                                  logFlags
}

func (f *edgeFlags) register(fs *flag.FlagSet) {
	d := edge.DefaultConfig()
	host, _ := os.Hostname()
	fs.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.StringVar(&f.http, "http", d.Addr, "HTTP listen address for viewers")
	fs.Var(&f.origins, "origin", "upstream origin URL; repeat for backups tried in order on failure (required)")
	f.cacheSize = config.Size(d.CacheSize)
	fs.Var(&f.cacheSize, "cache-size", "bytes of cache (e.g. 512MiB, 1GiB)")
	fs.DurationVar(&f.staleIfError, "stale-if-error", d.Policy.StaleIfError, "how long an expired playlist may be served while the upstream fails")
	fs.DurationVar(&f.notFoundTTL, "not-found-ttl", d.Policy.NotFound, "how long a 404 is cached")
	fs.Var(&f.keepQuery, "cache-query", "query parameter kept in cache keys besides _HLS_msn/_HLS_part/_HLS_skip (repeatable)")
	fs.StringVar(&f.signKey, "sign-key", "", "require viewer URLs signed with this HMAC key (see livecdn sign)")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (with --tls-key: serve HTTPS)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS key file")
	fs.IntVar(&f.prefetch, "prefetch", d.Prefetch.Concurrency, "concurrent prefetches of what playlists announce (0: off)")
	fs.StringVar(&f.nodeName, "node-name", host, "this node's name (Via header, logs)")
	fs.DurationVar(&f.drain, "drain", 10*time.Second, "on SIGTERM or POST /admin/drain, how long in-flight responses may finish")
	f.cluster.register(fs)
	f.log.register(fs)
}

func runEdge(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn edge", flag.ContinueOnError)
	var f edgeFlags
	f.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		// Growing objects and small bodies live on the heap (complete media
		// moves to memory files): keep the process near its budget.
		debug.SetMemoryLimit(int64(f.cacheSize) + 64<<20)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	n, err := startEdge(&f, log, reg)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-n.drained:
	}
	return n.shutdown(f.drain)
}

func (f *edgeFlags) validate() error {
	switch {
	case len(f.origins) == 0:
		return usageError{fmt.Errorf("--origin is required")}
	case f.cacheSize < 1<<20:
		return usageError{fmt.Errorf("--cache-size %s: want at least 1MiB", f.cacheSize.String())}
	case f.staleIfError < 0 || f.notFoundTTL < 0 || f.prefetch < 0:
		return usageError{fmt.Errorf("durations and --prefetch must not be negative")}
	case (f.tlsCert == "") != (f.tlsKey == ""):
		return usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
	}
	if err := f.cluster.check(); err != nil {
		return usageError{err}
	}
	return nil
}

// edgeNode is a running edge with its upstreams and fleet parts.
type edgeNode struct {
	srv     *edge.Server
	origins *upstream.Origins
	fleet   *fleetParts
	log     *slog.Logger
	drained chan struct{} // closed by POST /admin/drain
	stopped sync.Once
}

// shutdownOnce is shutdown for callers that may race (the demo's drain
// watchers and its exit).
func (n *edgeNode) shutdownOnce(drain time.Duration) {
	n.stopped.Do(func() { n.shutdown(drain) })
}

// startEdge wires and starts one edge (livecdn edge runs one, the demo
// several in one process, each with its own registry).
func startEdge(f *edgeFlags, log *slog.Logger, reg *prometheus.Registry) (*edgeNode, error) {
	ocfg := upstream.DefaultOriginsConfig()
	ocfg.URLs, ocfg.Logger, ocfg.Registerer = f.origins, log, reg
	origins, err := upstream.NewOrigins(ocfg)
	if err != nil {
		return nil, usageError{err}
	}
	n := &edgeNode{origins: origins, log: log, drained: make(chan struct{})}
	cfg := edge.DefaultConfig()
	cfg.Addr, cfg.TLSCert, cfg.TLSKey, cfg.NodeName = f.http, f.tlsCert, f.tlsKey, f.nodeName
	cfg.CacheSize = int64(f.cacheSize)
	cfg.Policy.StaleIfError, cfg.Policy.NotFound = f.staleIfError, f.notFoundTTL
	cfg.KeepQuery = f.keepQuery
	cfg.Prefetch.Concurrency = f.prefetch
	cfg.Ready = origins.Healthy
	cfg.AdminToken = f.cluster.adminToken
	cfg.Logger, cfg.Registerer, cfg.Gatherer = log, reg, reg
	if f.signKey != "" {
		if cfg.Signer, err = token.NewSigner([]byte(f.signKey)); err != nil {
			origins.Close()
			return nil, usageError{err}
		}
	}
	// The HTTP listener comes first: the cluster announces its address.
	ln, err := net.Listen("tcp", f.http)
	if err != nil {
		origins.Close()
		return nil, err
	}
	cfg.Listener = ln
	n.fleet, err = f.cluster.start(f.nodeName, ln.Addr(), f.tlsCert != "", origins, cfg.Signer, log, reg)
	if err != nil {
		ln.Close()
		origins.Close()
		return nil, err
	}
	n.fleet.wire(&cfg)
	if n.fleet.members != nil {
		// In a fleet an edge serves from its cache, its peers and stale
		// playlists while the origin is away: taking every edge out of
		// the load balancer then would turn an origin blip into an outage.
		cfg.Ready = nil
	}
	var once sync.Once
	cfg.OnDrain = func() { once.Do(func() { close(n.drained) }) }
	if n.srv, err = edge.New(cfg); err != nil {
		n.fleet.close()
		origins.Close()
		return nil, err
	}
	log.Info("edge listening", "http", n.srv.Addr().String(), "origins", f.origins.String(), "cache", f.cacheSize.String(),
		"node", f.nodeName, "role", f.cluster.role, "cluster", n.fleet.members != nil, "signed", cfg.Signer != nil, "tls", f.tlsCert != "")
	return n, nil
}

// shutdown drains: off the rings first (peers stop sending requests within
// a gossip round), readiness down (load balancers stop sending viewers),
// in-flight responses finish within drain, then a goodbye to the cluster.
func (n *edgeNode) shutdown(drain time.Duration) error {
	n.log.Info("shutting down: draining")
	start := time.Now()
	defer n.origins.Close()
	defer n.fleet.close()
	n.fleet.drain()
	n.srv.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	n.fleet.settle(sctx)
	err := n.srv.Shutdown(sctx)
	n.fleet.leave()
	n.log.Info("stopped", "drained_in", time.Since(start).Round(time.Millisecond).String())
	if err != nil && sctx.Err() != nil {
		n.log.Warn("drain timed out", "err", err)
		return nil
	}
	return err
}
