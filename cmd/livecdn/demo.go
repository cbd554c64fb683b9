package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/livecdn/livecdn/ingest/loop"
	"github.com/livecdn/livecdn/origin/watch"
)

// runDemo starts an origin fed by the built-in looping clip and a cluster
// of edges in front of it, gossiping over loopback, and prints where to
// watch through each edge. Ingest ports are off unless asked for, so the
// demo runs beside anything else on the machine.
func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn demo", flag.ContinueOnError)
	var f originFlags
	f.register(fs)
	stream := fs.String("stream", "demo", "name of the built-in stream")
	edges := fs.Int("edges", 3, "edge nodes in front of the origin (0: the origin alone)")
	edgeHTTP := fs.String("edge-http", "127.0.0.1:8081", "HTTP address of the first edge; the others take the next ports (port 0: any free ports)")
	gossip := fs.String("gossip", "127.0.0.1:7946", "gossip address of the first edge; the others take the next ports (port 0: any free ports)")
	for name, def := range map[string]string{"rtmp": "", "rtsp": "", "srt": "", "archive": ""} {
		fl := fs.Lookup(name)
		fl.DefValue = def
		_ = fl.Value.Set(def)
	}
	fs.Lookup("http").Usage = "HTTP listen address of the origin and the watch page"
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	if *edges < 0 || *edges > 16 {
		return usageError{fmt.Errorf("--edges %d: want 0 to 16", *edges)}
	}
	log, err := f.log.logger(stderr)
	if err != nil {
		return err
	}
	st, err := startOrigin(f, log, watch.Handler(*stream))
	if err != nil {
		return err
	}
	srcCtx, stopSource := context.WithCancel(ctx)
	srcDone := make(chan error, 1)
	go func() { srcDone <- loop.Run(srcCtx, st.hub, *stream) }()
	origin := watchBase(st.httpLn.Addr())
	nodes, err := startDemoEdges(*edges, origin, *edgeHTTP, *gossip, log)
	if err != nil {
		stopSource()
		<-srcDone
		st.shutdown(f.drain)
		return err
	}
	for i, n := range nodes {
		fmt.Fprintf(stderr, "watch: %s/   (edge-%d)\n", watchBase(n.srv.Addr()), i+1)
	}
	front := origin
	if len(nodes) > 0 {
		front = watchBase(nodes[0].srv.Addr())
	} else {
		fmt.Fprintf(stderr, "watch: %s/\n", origin)
	}
	fmt.Fprintf(stderr, "HLS:   %s/live/%s/index.m3u8\nDASH:  %s/live/%s/manifest.mpd\norigin: %s/\n",
		front, *stream, front, *stream, origin)
	select {
	case <-ctx.Done():
	case err := <-srcDone:
		log.Error("built-in source stopped", "err", err)
		srcDone <- err
	}
	for _, n := range nodes {
		n.shutdown(f.drain)
	}
	stopSource()
	<-srcDone // the source's session is closed: its last part is flushed
	return st.shutdown(f.drain)
}

// startDemoEdges starts n edges in this process, the first on edgeHTTP and
// gossip, the others on the following ports (or on free ports when the
// port is 0), all joining the first.
func startDemoEdges(n int, origin, edgeHTTP, gossip string, log *slog.Logger) ([]*edgeNode, error) {
	var nodes []*edgeNode
	join := ""
	for i := range n {
		httpAddr, err := nthPort(edgeHTTP, i)
		if err != nil {
			return nodes, usageError{fmt.Errorf("--edge-http: %w", err)}
		}
		gossipAddr, err := nthPort(gossip, i)
		if err != nil {
			return nodes, usageError{fmt.Errorf("--gossip: %w", err)}
		}
		var f edgeFlags
		fs := flag.NewFlagSet("edge", flag.ContinueOnError)
		f.register(fs) // the edge defaults
		name := fmt.Sprintf("edge-%d", i+1)
		f.http, f.nodeName, f.origins, f.cacheSize = httpAddr, name, []string{origin}, 256<<20
		f.cluster.gossip = gossipAddr
		f.cluster.alone = join == "" // the first forms the cluster
		if join != "" {
			f.cluster.join = []string{join}
		}
		node, err := startEdge(&f, log.With("self", name), prometheus.NewRegistry())
		if err != nil {
			for _, n := range nodes {
				n.shutdown(time.Second)
			}
			return nil, err
		}
		if join == "" {
			join = node.fleet.members.Self().Gossip
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

// nthPort returns addr with its port raised by i (port 0 stays 0).
func nthPort(addr string, i int) (string, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port+i > 65535 {
		return "", fmt.Errorf("bad port %q", p)
	}
	if port == 0 {
		return addr, nil
	}
	return net.JoinHostPort(host, strconv.Itoa(port+i)), nil
}

// watchBase turns a listen address into a URL a browser on this machine can open.
func watchBase(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
