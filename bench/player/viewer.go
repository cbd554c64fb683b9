package player

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Protocol is how a viewer plays.
type Protocol string

// The protocols a viewer speaks.
const (
	LLHLS Protocol = "llhls" // parts and blocking reloads (hls.js lowLatencyMode)
	HLS   Protocol = "hls"   // whole segments, playlist polled every target duration
	DASH  Protocol = "dash"  // MPD refresh, SegmentTemplate $Number$, availabilityTimeOffset
)

// ParseProtocol checks a --protocol value.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case LLHLS, HLS, DASH:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q: want llhls, hls or dash", s)
}

// Config is what one viewer plays and how.
type Config struct {
	// URL is the multivariant playlist (HLS, LL-HLS) or the MPD (DASH).
	URL string
	// Protocol defaults to LLHLS.
	Protocol Protocol
	// Rendition picks a video rendition by index in ascending bandwidth
	// order; -1 (or below) lets the viewer adapt to measured throughput.
	Rendition int
	// Bandwidth limits the viewer's download rate in bits/s (0: unlimited):
	// each response is held until it could have arrived at this rate.
	Bandwidth int64
	// CMCD sends CTA-5004 data: "" (off), "query" or "header".
	CMCD string
	// Delta asks for playlist delta updates (_HLS_skip=YES) when the server
	// offers them (CAN-SKIP-UNTIL), as hls.js does.
	Delta bool
	// Client is the shared HTTP client. Required.
	Client *Client
	// Stats receives every measurement. Required.
	Stats *Stats
	// ID names the viewer in CMCD (sid).
	ID string
	// StartDelay is the player's own time from the first playable media to
	// the first frame (media source setup, decoder start), for modelling a
	// player without live catch-up: the playhead waits meanwhile and the
	// delay stays in the live latency. Zero models a player that catches up
	// to its target latency (hls.js with maxLiveSyncPlaybackRate > 1,
	// dash.js' default), which the emulator holds from the first frame.
	StartDelay time.Duration
	// Alternates are the same stream at other edges (DNS or anycast would
	// send a real player there): after three failed requests in a row the
	// viewer moves on to the next one, keeping its buffer.
	Alternates []string
}

// BrowserStartDelay is what hls.js 1.7 in headless Chromium on this 2-core
// box adds between playable media and the first frame (media source setup,
// audio and video appended, decoder start), measured as hls.js' latency
// minus the emulator's on the same stream at the same time (1.35-1.76 s
// against 0.62-0.74 s). Give it as Config.StartDelay to model such a player.
const BrowserStartDelay = 700 * time.Millisecond

// Result is what one viewer measured over its life.
type Result struct {
	Started   bool
	Startup   time.Duration
	Stalls    int
	StallTime time.Duration
	// LatencyAvg averages the live latency sampled at each media arrival
	// after the start; LatencyLast is the last sample.
	LatencyAvg, LatencyLast time.Duration
	Samples                 int
	Bytes, Requests, Errors int64
	Switches, Failovers     int
}

// Run plays until ctx is done and returns what it measured. An error means
// the stream could not be played at all (no playlist, nothing to play);
// failures while playing are counted, retried and reported in Result.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Client == nil || cfg.Stats == nil {
		return Result{}, errors.New("player: Client and Stats are required")
	}
	if cfg.Protocol == "" {
		cfg.Protocol = LLHLS
	}
	v := newViewer(&cfg)
	err := v.end(ctx, v.play(ctx))
	return v.res, err
}

// newViewer puts the viewer on the heap: on its goroutine's stack it would
// sit under every call it makes (see play).
//
//go:noinline
func newViewer(cfg *Config) *viewer {
	return &viewer{cfg: *cfg, st: cfg.Stats, begin: time.Now()}
}

// play runs the viewer until it leaves, moving to alternates on failover.
// Run, play and end are apart to keep the bottom of the viewer's stack
// small: every frame under the waiting read is paid per viewer.
//
//go:noinline
func (v *viewer) play(ctx context.Context) error {
	v.buf.startDelay = max(v.cfg.StartDelay, 0)
	v.st.Active.Add(1)
	v.st.Joined.Add(1)
	alts := v.cfg.Alternates
	first := v.cfg.URL
	for i := 0; ; i++ {
		v.cfg.URL, v.consec = first, 0
		if k := i % (len(alts) + 1); k > 0 {
			v.cfg.URL = alts[k-1]
		}
		var err error
		if v.cfg.Protocol == DASH {
			err = v.runDASH(ctx)
		} else {
			err = v.runHLS(ctx)
		}
		if !errors.Is(err, errFailover) {
			return err
		}
		v.st.Failovers.Add(1)
		v.res.Failovers++
	}
}

// end closes the viewer's accounts (v.res).
//
//go:noinline
func (v *viewer) end(ctx context.Context, err error) error {
	defer v.st.Active.Add(-1)
	now := time.Now()
	started, stalled := v.buf.advance(now)
	v.account(started, false, stalled, now)
	v.res.StallTime = v.buf.finish(now)
	if v.buf.started && v.buf.playing {
		v.st.Playing.Add(-1)
	} else if v.buf.started {
		v.st.StallNs.Add(int64(now.Sub(v.buf.stallStart)))
	}
	v.res.Started, v.res.Stalls = v.buf.started, v.buf.stalls
	if v.res.Samples > 0 {
		v.res.LatencyAvg = v.latSum / time.Duration(v.res.Samples)
	}
	if ctx.Err() != nil {
		err = nil // leaving is how a viewer ends
	}
	return err
}

// viewer is the state of one emulated player; it lives in one goroutine.
type viewer struct {
	cfg    Config
	st     *Stats
	begin  time.Time
	buf    buffer
	res    Result
	latSum time.Duration
	// bw is the throughput estimate in bits/s (EWMA), 0 before any sample.
	bw float64
	// consec counts failed requests in a row.
	consec int
	// noSample keeps the next fetch out of the throughput estimate.
	noSample bool
}

var errFailover = errors.New("moving to an alternate URL")

// failed wraps err with what failed where. Out of line, as formatting
// needs a deep stack (see Client).
//
//go:noinline
func failed(what, u string, err error) error {
	return fmt.Errorf("%s %s: %w", what, u, err)
}

// failover tells the playing loop to move to the next alternate.
func (v *viewer) failover() bool {
	return v.consec >= 3 && len(v.cfg.Alternates) > 0
}

// deadline bounds one request: the run's context or timeout from now.
func deadline(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// fetch GETs u, counts it as kind and applies the bandwidth limit.
func (v *viewer) fetch(ctx context.Context, kind Kind, u string, timeout time.Duration, hdr ...string) (*response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Playlists are parsed; of media only the length matters.
	keep := kind == KindPlaylist || kind == KindBlocking
	r, err := v.cfg.Client.get(u, deadline(ctx, timeout), keep, hdr...)
	v.st.Requests[kind].Add(1)
	v.res.Requests++
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// A request cut at the run's deadline may fail a hair before ctx says so.
		if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			return nil, context.DeadlineExceeded
		}
		v.st.Errors.Add(1)
		v.res.Errors++
		v.consec++
		return nil, failed(kind.String(), u, err)
	}
	v.consec = 0
	n := r.Size
	v.st.Bytes.Add(n)
	v.res.Bytes += n
	el := r.Elapsed
	if v.cfg.Bandwidth > 0 {
		need := time.Duration(float64(n*8) / float64(v.cfg.Bandwidth) * float64(time.Second))
		if need > el {
			if err := Sleep(ctx, need-el); err != nil {
				r.release()
				return nil, err
			}
			el = need
		}
	}
	v.st.Latency[kind].Record(el)
	if (kind == KindPart || kind == KindSegment) && !v.noSample {
		v.sampleThroughput(n, el)
	}
	return r, nil
}

// sampleThroughput feeds the ABR estimate; tiny objects say little about
// bandwidth (their time is mostly latency), so they count less, as in hls.js.
func (v *viewer) sampleThroughput(n int64, el time.Duration) {
	if n < 2048 || el <= 0 {
		return
	}
	s := float64(n*8) / el.Seconds()
	if v.bw == 0 {
		v.bw = s
		return
	}
	v.bw = 0.7*v.bw + 0.3*s
}

// pick chooses a rendition index among bandwidths (ascending): the fixed
// one, or the highest that fits 70% of the estimate (hls.js' up factor).
func (v *viewer) pick(bandwidths []int, cur int) int {
	if v.cfg.Rendition >= 0 {
		return min(v.cfg.Rendition, len(bandwidths)-1)
	}
	if v.bw == 0 {
		if cur >= 0 {
			return cur
		}
		return 0 // start low, like a player with no estimate
	}
	best := 0
	for i, b := range bandwidths {
		if float64(b) <= 0.7*v.bw {
			best = i
		}
	}
	return best
}

// media records an arrival of media [from, from+dur) in the buffer model.
//
//go:noinline
func (v *viewer) media(from time.Time, dur time.Duration, realPDT bool) {
	now := time.Now()
	started, resumed, stalled := v.buf.add(from, dur, now)
	v.account(started, resumed, stalled, now)
	if v.buf.started && realPDT {
		l := v.buf.latency(now)
		v.st.LiveDelay.Record(l)
		v.res.LatencyLast = l
		v.latSum += l
		v.res.Samples++
	}
}

// account moves the shared gauges and counters after a buffer event.
func (v *viewer) account(started, resumed, stalled bool, now time.Time) {
	if started {
		v.st.Playing.Add(1)
		v.res.Startup = v.buf.startAt.Sub(v.begin)
		v.st.Startup.Record(v.res.Startup)
	}
	if stalled {
		v.st.Stalls.Add(1)
		v.st.Playing.Add(-1)
	}
	if resumed {
		v.st.Playing.Add(1)
		v.st.StallNs.Add(int64(now.Sub(v.buf.stallStart)))
	}
}

// cmcd returns the CMCD additions for a media request: a query suffix or
// header pairs. nor is the next object's URL relative to this one's.
func (v *viewer) cmcd(br int, nor string) (query string, hdr []string) {
	if v.cfg.CMCD == "" {
		return "", nil
	}
	bl := v.buf.ahead().Milliseconds() / 100 * 100
	req := "bl=" + strconv.FormatInt(bl, 10)
	if nor != "" {
		req += `,nor="` + nor + `"`
	}
	obj := "br=" + strconv.Itoa(br/1000) + ",ot=v"
	sess := `sf=l,sid="` + v.cfg.ID + `"`
	if v.cfg.CMCD == "header" {
		return "", []string{"CMCD-Request", req, "CMCD-Object", obj, "CMCD-Session", sess}
	}
	return "CMCD=" + url.QueryEscape(req+","+obj+","+sess), nil
}

// withQuery appends q to u.
func withQuery(u, q string) string {
	if q == "" {
		return u
	}
	if strings.Contains(u, "?") {
		return u + "&" + q
	}
	return u + "?" + q
}

// Sleep waits d or until ctx ends (its error then).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
