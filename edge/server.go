package edge

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"

	"github.com/livecdn/livecdn/edge/cache"
	"github.com/livecdn/livecdn/edge/coalesce"
	"github.com/livecdn/livecdn/edge/follow"
	"github.com/livecdn/livecdn/edge/prefetch"
)

// Server is a running edge node.
type Server struct {
	cfg       Config
	log       *slog.Logger
	cache     *cache.Cache
	flights   *coalesce.Group
	follow    *follow.Registry
	fleet     fleet
	drainOnce sync.Once
	prefetch  *prefetch.Prefetcher
	metrics   *metrics
	http      *fasthttp.Server
	ln        net.Listener
	draining  atomic.Bool
	scanned   sync.Map // playlist path → the follower snapshot last scanned for prefetch
	base      context.Context
	stop      context.CancelFunc
	served    chan error
	via       []byte // the Via header's value
}

// New starts an edge listening on cfg.Addr.
func New(cfg Config) (*Server, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("edge: no upstream")
	}
	d := DefaultConfig()
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = d.CacheSize
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = d.ReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = d.WriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = d.IdleTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if cfg.FollowIdle <= 0 {
		cfg.FollowIdle = d.FollowIdle
	}
	if cfg.NodeName == "" {
		cfg.NodeName = d.NodeName
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{cfg: cfg, log: log, flights: coalesce.New(), served: make(chan error, 1), via: []byte("1.1 " + cfg.NodeName)}
	s.base, s.stop = context.WithCancel(context.Background())
	s.cache = cache.New(cfg.CacheSize, s.evicted)
	fcfg := follow.DefaultConfig()
	fcfg.Idle = cfg.FollowIdle
	if cfg.Registerer != nil {
		fcfg.Metrics = follow.NewMetrics(cfg.Registerer)
	}
	s.follow = follow.NewRegistry(cfg.Upstream, fcfg)
	s.fleet = newFleet(cfg, fcfg)
	s.prefetch = prefetch.New(prefetch.Config{Concurrency: cfg.Prefetch.Concurrency, MaxBytes: cfg.Prefetch.MaxBytes}, s.prefetchFetch)
	s.metrics = newMetrics(cfg.Registerer, s)
	s.http = &fasthttp.Server{
		Handler:                       s.handle,
		Name:                          "livecdn",
		ReadTimeout:                   cfg.ReadTimeout,
		WriteTimeout:                  cfg.WriteTimeout,
		IdleTimeout:                   cfg.IdleTimeout,
		ReadBufferSize:                cfg.MaxHeaderBytes,
		MaxRequestBodySize:            64 << 10,
		DisableHeaderNamesNormalizing: false,
		NoDefaultDate:                 false,
		CloseOnShutdown:               true,
		StreamRequestBody:             false,
		Logger:                        fasthttpLogger{log},
	}
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			s.closeParts()
			return nil, err
		}
	}
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		ln = withMore(ln)
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			s.closeParts()
			return nil, err
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12,
			NextProtos: []string{"http/1.1"}})
	}
	s.ln = ln
	go func() { s.served <- s.http.Serve(ln) }()
	return s, nil
}

// Addr returns the listen address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Drain makes /readyz answer 503 so load balancers move viewers away.
func (s *Server) Drain() { s.draining.Store(true) }

// Shutdown stops accepting connections, lets in-flight responses finish
// until ctx ends, then releases everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain()
	err := s.http.ShutdownWithContext(ctx)
	s.closeParts()
	return err
}

func (s *Server) closeParts() {
	s.stop()
	s.prefetch.Close()
	s.follow.Close()
	s.flights.Close()
	s.fleet.close()
}

// evicted is the cache's eviction callback.
func (s *Server) evicted(o *cache.Object) {
	if s.metrics == nil {
		return
	}
	s.metrics.evictions.Inc()
	if o.Wasted() {
		s.metrics.wasted.Inc()
		v := o.View()
		s.prefetch.Served(int64(v.Len()))
	}
}

type fasthttpLogger struct{ log *slog.Logger }

func (l fasthttpLogger) Printf(format string, args ...any) {
	l.log.Debug("fasthttp", "msg", fmt.Sprintf(format, args...))
}
