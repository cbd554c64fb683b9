package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/livecdn/livecdn/deploy/opscli"
)

// runDrain asks one node to drain: livecdn drain [--wait 30s] http://edge:8081.
func runDrain(ctx context.Context, args []string, stderr io.Writer) error {
	return runDrainTo(ctx, args, os.Stdout, stderr)
}

// runDrainTo is runDrain with its output as an argument, for tests.
func runDrainTo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var configFile, node, token string
	var wait time.Duration
	register := func(fs *flag.FlagSet) {
		fs.StringVar(&configFile, "config", "", "YAML file of flag values (keys are flag names)")
		fs.StringVar(&node, "node", "", "HTTP URL of the node to drain, e.g. http://edge-2:8081 (or the one argument)")
		fs.DurationVar(&wait, "wait", 0, "wait up to this long for the node to finish and exit (0: return once it accepted)")
		fs.StringVar(&token, "admin-token", "", "the node's --admin-token (without one, nodes take drains from loopback only)")
	}
	fs := flag.NewFlagSet("livecdn drain [node URL]", flag.ContinueOnError)
	register(fs)
	flagArgs, positional := splitSignArgs(register, args)
	if err := parseFlags(fs, flagArgs, stderr); err != nil {
		return err
	}
	switch {
	case len(positional) > 1, len(positional) == 1 && node != "":
		return usageError{errors.New("want one node URL, as --node or as the argument")}
	case len(positional) == 1:
		node = positional[0]
	}
	switch {
	case node == "":
		return usageError{errors.New("which node? give its URL, e.g. livecdn drain http://edge-2:8081")}
	case wait < 0:
		return usageError{fmt.Errorf("--wait %v: want 0 or more", wait)}
	}
	c := &opscli.Client{AdminToken: token}
	if err := c.Drain(ctx, node); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: draining\n", node)
	if wait == 0 {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	if err := c.WaitGone(wctx, node, 200*time.Millisecond); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: drained and gone\n", node)
	return nil
}

// runProbe exits 0 when a URL answers 2xx: the container HEALTHCHECK of
// images without curl (livecdn probe http://127.0.0.1:8081/healthz).
func runProbe(ctx context.Context, args []string, stderr io.Writer) error {
	var timeout time.Duration
	register := func(fs *flag.FlagSet) {
		fs.DurationVar(&timeout, "timeout", 3*time.Second, "time limit for the answer")
	}
	fs := flag.NewFlagSet("livecdn probe <URL>", flag.ContinueOnError)
	register(fs)
	flagArgs, positional := splitSignArgs(register, args)
	if err := parseFlags(fs, flagArgs, stderr); err != nil {
		return err
	}
	if len(positional) != 1 {
		return usageError{fmt.Errorf("want exactly one URL, got %d", len(positional))}
	}
	return (&opscli.Client{Timeout: timeout}).Probe(ctx, positional[0])
}
