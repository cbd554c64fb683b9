// Package scenario drives a benchmark run: it starts and stops emulated
// viewers over time according to a named scenario (steady, ramp, flash
// crowd, churn, edge kill, origin outage, ABR stress), injects the failures
// some scenarios need into the system under test, samples the viewers'
// Stats and the edges' /metrics every second, and returns the time series
// and a summary that the report package writes out.
package scenario

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/livecdn/livecdn/bench/player"
	"github.com/livecdn/livecdn/bench/sut"
)

// Names lists the scenarios.
var Names = []string{"steady", "ramp", "flash", "churn", "edge-kill", "origin-outage", "abr-stress"}

// Config is one run.
type Config struct {
	// Scenario is one of Names (default "steady").
	Scenario string
	// URLs is the stream (multivariant playlist or MPD) at each target edge;
	// viewer i watches URLs[i%len] and fails over to the others.
	URLs []string
	// Metrics are the base URLs whose /metrics are scraped (edges).
	Metrics []string
	// Protocol, Rendition, Bandwidth and CMCD configure every viewer (see
	// player.Config). abr-stress gives each viewer its own bandwidth around
	// Bandwidth (default 2 Mbit/s there).
	Protocol  player.Protocol
	Rendition int
	Bandwidth int64
	CMCD      string
	Delta     bool
	// Viewers is the peak number of viewers; Duration the length of the run.
	Viewers  int
	Duration time.Duration
	// Churn is the fraction of viewers replaced per second (default 0.05).
	Churn float64
	// Outage is how long origin-outage pauses the origin (default 3 s).
	Outage time.Duration
	// System is the started system under test; nil when targeting existing
	// URLs (edge-kill and origin-outage need it).
	System *sut.System
	// Client is shared by every viewer (default: a new one).
	Client *player.Client
	// Progress receives a live line every second; TTY refreshes it in place.
	Progress io.Writer
	TTY      bool
	Logger   *slog.Logger
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.Scenario == "" {
		c.Scenario = "steady"
	}
	known := false
	for _, n := range Names {
		known = known || n == c.Scenario
	}
	switch {
	case !known:
		return fmt.Errorf("scenario %q: want one of %v", c.Scenario, Names)
	case len(c.URLs) == 0:
		return fmt.Errorf("no target URL")
	case c.Viewers < 1:
		return fmt.Errorf("viewers %d: want at least 1", c.Viewers)
	case c.Duration < time.Second:
		return fmt.Errorf("duration %v: want at least 1s", c.Duration)
	case (c.Scenario == "edge-kill" || c.Scenario == "origin-outage") && c.System == nil:
		return fmt.Errorf("scenario %s injects failures: it needs the system started by the bench, not --target", c.Scenario)
	case c.Scenario == "edge-kill" && len(c.System.Edges) < 2:
		return fmt.Errorf("scenario edge-kill needs at least 2 edges")
	}
	if c.Churn <= 0 {
		c.Churn = 0.05
	}
	if c.Outage <= 0 {
		c.Outage = 3 * time.Second
	}
	if c.Scenario == "abr-stress" && c.Bandwidth == 0 {
		c.Bandwidth = 2_000_000
	}
	if c.Protocol == "" {
		c.Protocol = player.LLHLS
	}
	return nil
}

// target is how many viewers the scenario wants at elapsed time t.
func (c *Config) target(t time.Duration) int {
	n := c.Viewers
	switch c.Scenario {
	case "ramp":
		ramp := c.Duration / 2
		if t < ramp {
			return max(1, int(float64(n)*float64(t)/float64(ramp)))
		}
	case "flash":
		// A tenth watches from the start; the rest arrive within one second.
		base := max(1, n/10)
		at := c.Duration / 4
		switch {
		case t < at:
			return base
		case t < at+time.Second:
			return base + int(float64(n-base)*float64(t-at)/float64(time.Second))
		}
	default:
		// Steady states join over the first 2 s, not as a flash crowd.
		if ramp := 2 * time.Second; t < ramp {
			return max(1, int(float64(n)*float64(t)/float64(ramp)))
		}
	}
	return n
}
