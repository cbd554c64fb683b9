package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/livecdn/livecdn/ingest/loop"
	"github.com/livecdn/livecdn/origin/watch"
)

// runDemo starts an origin fed by the built-in looping clip and prints where
// to watch it. Ingest ports are off unless asked for, so the demo runs
// beside anything else on the machine.
func runDemo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("livecdn demo", flag.ContinueOnError)
	var f originFlags
	f.register(fs)
	stream := fs.String("stream", "demo", "name of the built-in stream")
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
	fmt.Fprintf(stderr, "watch: %s/\n", watchBase(st.httpLn.Addr()))
	fmt.Fprintf(stderr, "HLS:   %s/live/%s/index.m3u8\nDASH:  %s/live/%s/manifest.mpd\n",
		watchBase(st.httpLn.Addr()), *stream, watchBase(st.httpLn.Addr()), *stream)
	select {
	case <-ctx.Done():
	case err := <-srcDone:
		log.Error("built-in source stopped", "err", err)
		srcDone <- err
	}
	stopSource()
	<-srcDone // the source's session is closed: its last part is flushed
	return st.shutdown(f.drain)
}

// watchBase turns a listen address into a URL a browser on this machine can open.
func watchBase(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}
