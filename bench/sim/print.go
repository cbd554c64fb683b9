package sim

import (
	"fmt"
	"io"
)

// Print writes the result as a short table.
func Print(w io.Writer, r *Result) {
	fmt.Fprintf(w, "fleet: %s\n", r.Config)
	for _, e := range r.Events {
		fmt.Fprintf(w, "event: %s\n", e)
	}
	fmt.Fprintf(w, "viewer requests        %d\n", r.Requests)
	fmt.Fprintf(w, "objects from origin    %d\n", r.Objects)
	fmt.Fprintf(w, "origin fetches         %d (%.3f per object, max %d)\n", r.OriginFetches, r.FetchesPerObject, r.MaxPerObject)
	fmt.Fprintf(w, "edge hit ratio         %.5f\n", r.EdgeHitRatio)
	if r.PeerHitRatio >= 0 {
		fmt.Fprintf(w, "owner (peer) hit ratio %.5f\n", r.PeerHitRatio)
	}
	if r.ShieldHitRatio >= 0 {
		fmt.Fprintf(w, "shield hit ratio       %.5f\n", r.ShieldHitRatio)
	}
	fmt.Fprintf(w, "edge load (req/edge)   min %.0f mean %.0f max %.0f (max/mean %.3f)\n", r.EdgeLoad.Min, r.EdgeLoad.Mean, r.EdgeLoad.Max, r.EdgeLoad.MaxOverMean)
	fmt.Fprintf(w, "edge upstream requests min %.0f mean %.0f max %.0f (max/mean %.3f)\n", r.EdgeUpstream.Min, r.EdgeUpstream.Mean, r.EdgeUpstream.Max, r.EdgeUpstream.MaxOverMean)
	fmt.Fprintf(w, "evictions              %d\n", r.Evictions)
	fmt.Fprintln(w, "second  edges  requests    edge-hit  shield  origin  load max/mean")
	for i, t := range r.Ticks {
		if i%10 != 9 && i != 0 && !(i > 0 && r.Ticks[i-1].LiveEdges != t.LiveEdges) {
			continue
		}
		fmt.Fprintf(w, "%6.0f  %5d  %9d  %.5f  %6d  %6d  %.3f\n", t.T, t.LiveEdges, t.Requests, float64(t.Hits)/float64(max(t.Requests, 1)), t.ShieldRequests, t.OriginFetches, t.LoadMaxOverMean)
	}
	fmt.Fprintf(w, "simulated in %v\n", r.Elapsed.Round(1e6))
}
