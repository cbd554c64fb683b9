package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/livecdn/livecdn/deploy/opscli"
	"github.com/livecdn/livecdn/internal/config"
)

// statusFlags are the flags of `livecdn status`.
type statusFlags struct {
	configFile string
	edges      config.List
	timeout    time.Duration
	jsonOut    bool
}

// runStatus prints the cluster as its nodes report it: livecdn status --edge http://edge:8081.
func runStatus(ctx context.Context, args []string, stderr io.Writer) error {
	return runStatusTo(ctx, args, os.Stdout, stderr)
}

// runStatusTo is runStatus with its output as an argument, for tests.
func runStatusTo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f statusFlags
	fs := flag.NewFlagSet("livecdn status", flag.ContinueOnError)
	fs.StringVar(&f.configFile, "config", "", "YAML file of flag values (keys are flag names)")
	fs.Var(&f.edges, "edge", "HTTP URL of any edge or shield, e.g. http://edge:8081; repeat to try others when one is down (required)")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "time limit for each node's answer")
	fs.BoolVar(&f.jsonOut, "json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	case len(f.edges) == 0:
		return usageError{errors.New("--edge (or LIVECDN_EDGE) is required")}
	case f.timeout <= 0:
		return usageError{fmt.Errorf("--timeout %v: want more than 0", f.timeout)}
	}
	c := &opscli.Client{Timeout: f.timeout}
	rep, err := c.Status(ctx, f.edges)
	if err != nil {
		return err
	}
	if f.jsonOut {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteText(stdout)
}
