// Command livecdn is the one binary of the live-segment CDN: `livecdn origin`
// ingests and packages live streams, `livecdn demo` runs a complete setup on
// built-in media. This package only wires the other packages together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/livecdn/livecdn/internal/config"
)

// command is one subcommand.
type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stderr io.Writer) error
}

var commands = []command{
	{"origin", "ingest RTMP/RTSP/SRT, package CMAF, serve HLS, LL-HLS and DASH", runOrigin},
	{"edge", "cache node: serve viewers from an origin, one fetch per object", runEdge},
	{"demo", "origin with a built-in live source, printing a URL to watch", runDemo},
	{"clip", "cut an MP4 of an archived time range from an origin", runClip},
	{"sign", "print a signed viewer URL for an edge with --sign-key", runSign},
	{"status", "print a cluster's members, roles, key shares, hit ratios and viewers", runStatus},
	{"drain", "drain one node: stop owning keys, finish responses, leave, exit", runDrain},
	{"probe", "exit 0 if a URL answers 2xx (container health checks)", runProbe},
	{"bench", "load-test: emulated viewers (run), fleet simulator (sim), nginx/Varnish (compare)", runBench},
}

// usageError is a bad flag or value: exit status 2 with one line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

func main() {
	code := run(os.Args[1:], os.Stderr)
	// The work is done: a SIGTERM from now on (a supervisor that did not see
	// the drain finish) must not turn a clean exit into "killed by signal"
	// while the runtime winds down (the race detector's exit report takes a
	// while).
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	os.Exit(code)
}

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := c.run(ctx, args[1:], stderr)
		var ue usageError
		switch {
		case err == nil, errors.Is(err, config.ErrHelp):
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "livecdn %s: %v\n", c.name, err)
			return 2
		default:
			fmt.Fprintf(stderr, "livecdn %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "livecdn: unknown command %q (try livecdn --help)\n", args[0])
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: livecdn <command> [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun livecdn <command> --help for its flags. Every flag is also a key of the\n--config YAML file and a LIVECDN_<FLAG> environment variable; flags win.")
}
