package player

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// dashFollower is the MPD side of one DASH viewer.
type dashFollower struct {
	v        *viewer
	base     *url.URL
	mf       *manifest
	loadedAt time.Time
}

func (f *dashFollower) load(ctx context.Context) error {
	r, err := f.v.fetch(ctx, KindPlaylist, f.v.cfg.URL, 10*time.Second)
	if err != nil {
		return err
	}
	defer r.release()
	mf, err := offload(func() (*manifest, error) { return parseMPD(r.Body) })
	if err != nil {
		f.v.st.Errors.Add(1)
		f.v.res.Errors++
		return fmt.Errorf("MPD %s: %w", f.v.cfg.URL, err)
	}
	f.mf, f.loadedAt = mf, time.Now()
	return nil
}

func (f *dashFollower) url(rel string) string {
	u, err := resolve(f.base, rel)
	if err != nil {
		return rel
	}
	return u.String()
}

// runDASH plays a dynamic MPD the way dash.js does in low-latency mode:
// start at the ServiceDescription's target latency behind the live edge,
// request each segment as soon as availabilityTimeOffset allows (the edge
// streams it while it is produced), refresh the MPD every
// minimumUpdatePeriod, and predict segments past the timeline by $Number$
// timing.
func (v *viewer) runDASH(ctx context.Context) error {
	base, err := url.Parse(v.cfg.URL)
	if err != nil {
		return err
	}
	f := &dashFollower{v: v, base: base}
	for attempt := 0; ; attempt++ {
		if err = f.load(ctx); err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if v.failover() {
			return errFailover
		}
		if err := Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
	bws := make([]int, len(f.mf.reps))
	for i, r := range f.mf.reps {
		bws[i] = r.bw
	}
	cur := v.pick(bws, -1)
	v.buf.resume = 100 * time.Millisecond
	fetchInit := func() error {
		r := &f.mf.reps[cur]
		if r.init == "" {
			return nil
		}
		for attempt := 0; ; attempt++ {
			resp, err := v.fetch(ctx, KindSegment, f.url(r.expand(r.init, dashSeg{})), 10*time.Second)
			if err == nil {
				resp.release()
				return nil
			}
			if v.failover() {
				return errFailover
			}
			if err := Sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		}
	}
	if err := fetchInit(); err != nil {
		return err
	}
	rep := &f.mf.reps[cur]
	pos := time.Now().Add(-f.mf.targetLatency)
	mediaT := uint64(max(0, float64(pos.Sub(f.mf.ast))/float64(time.Second)*float64(rep.timescale))) + rep.pto
	num := rep.numberAt(mediaT)
	v.buf.seek(pos)
	fails := 0
	for ctx.Err() == nil {
		if v.failover() {
			return errFailover
		}
		if f.mf.update > 0 && time.Since(f.loadedAt) >= f.mf.update {
			if err := f.load(ctx); err != nil && ctx.Err() == nil {
				_ = Sleep(ctx, 200*time.Millisecond)
				continue
			}
		}
		if n := v.pick(bws, cur); n != cur && n < len(f.mf.reps) {
			cur = n
			v.res.Switches++
			v.st.Switches.Add(1)
			if err := fetchInit(); err != nil {
				return err
			}
		}
		rep = &f.mf.reps[min(cur, len(f.mf.reps)-1)]
		seg, ok := rep.segment(num)
		if !ok { // left the time-shift window
			v.st.Behind.Add(1)
			num = rep.numberAt(uint64(max(0, float64(time.Since(f.mf.ast)-f.mf.targetLatency)/float64(time.Second)*float64(rep.timescale))) + rep.pto)
			continue
		}
		start := f.mf.wall(rep, seg.t)
		dur := time.Duration(float64(seg.d) / float64(rep.timescale) * float64(time.Second))
		avail := start.Add(dur - rep.ato)
		if wait := time.Until(avail); wait > 0 {
			// Not yet available: wait for it, but no longer than the next MPD refresh.
			if f.mf.update > 0 {
				wait = min(wait, time.Until(f.loadedAt.Add(f.mf.update)))
			}
			if err := Sleep(ctx, max(wait, time.Millisecond)); err != nil {
				return nil
			}
			if time.Now().Before(avail) {
				continue
			}
		}
		// A request before the segment is complete streams while it is
		// produced: its duration says nothing about bandwidth.
		v.noSample = time.Now().Before(start.Add(dur))
		q, hdr := v.cmcd(rep.bw, "")
		u := f.url(rep.expand(rep.media, seg))
		resp, err := v.fetch(ctx, KindSegment, withQuery(u, q), dur+10*time.Second, hdr...)
		v.noSample = false
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if fails++; fails < 3 {
				_ = Sleep(ctx, backoff(fails))
				continue
			}
		} else {
			resp.release()
			v.media(start, dur, true)
		}
		fails = 0
		num++
	}
	return nil
}
