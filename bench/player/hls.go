package player

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// variant is one video rendition of the multivariant playlist.
type variant struct {
	bw  int
	url string // media playlist URL
	dir string // its directory, for relative URIs without query
}

// runHLS plays an HLS or LL-HLS stream.
func (v *viewer) runHLS(ctx context.Context) error {
	vars, err := v.variants(ctx)
	if err != nil {
		return err
	}
	return v.follow(ctx, vars)
}

// variants loads the multivariant playlist (retrying until ctx ends) and
// returns its video renditions in ascending bandwidth. A media playlist URL
// is its own single rendition.
func (v *viewer) variants(ctx context.Context) ([]variant, error) {
	base, err := url.Parse(v.cfg.URL)
	if err != nil {
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		r, err := v.fetch(ctx, KindPlaylist, v.cfg.URL, 10*time.Second)
		if err == nil {
			pl, perr := offload(func() (playlist.Playlist, error) { return playlist.Unmarshal(r.Body) })
			r.release()
			if perr != nil {
				return nil, fmt.Errorf("multivariant playlist: %w", perr)
			}
			switch p := pl.(type) {
			case *playlist.Media:
				return []variant{newVariant(base)}, nil
			case *playlist.Multivariant:
				var out []variant
				for _, x := range p.Variants {
					u, err := resolve(base, x.URI)
					if err != nil {
						return nil, err
					}
					vr := newVariant(u)
					vr.bw = x.Bandwidth
					out = append(out, vr)
				}
				if len(out) == 0 {
					return nil, fmt.Errorf("multivariant playlist has no variants")
				}
				sort.SliceStable(out, func(i, j int) bool { return out[i].bw < out[j].bw })
				return out, nil
			}
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if v.failover() {
			return nil, errFailover
		}
		if err := Sleep(ctx, backoff(attempt)); err != nil {
			return nil, err
		}
	}
}

func newVariant(u *url.URL) variant {
	s := u.String()
	dir := ""
	if u.RawQuery == "" {
		dir = s[:strings.LastIndexByte(s, '/')+1]
	}
	return variant{url: s, dir: dir}
}

// media URL of uri in rendition x: a plain concatenation for the usual
// relative names (no allocation-heavy URL parsing per part).
func (x *variant) media(uri string) string {
	if x.dir != "" && !strings.ContainsAny(uri, ":/?") {
		return x.dir + uri
	}
	base, _ := url.Parse(x.url)
	u, err := resolve(base, uri)
	if err != nil {
		return uri
	}
	return u.String()
}

func backoff(attempt int) time.Duration {
	return min(time.Duration(attempt+1)*250*time.Millisecond, 2*time.Second)
}

// hlsFollower is the playlist side of one viewer.
type hlsFollower struct {
	v        *viewer
	vars     []variant
	cur      int
	tl       *timeline
	loadedAt time.Time
	ll       bool
}

// load fetches the current rendition's playlist, blocking for (msn, part)
// when msn >= 0.
func (f *hlsFollower) load(ctx context.Context, msn, part int) error {
	u, kind, timeout := f.vars[f.cur].url, KindPlaylist, 10*time.Second
	if msn >= 0 {
		u, kind, timeout = f.blockingURL(msn, part), KindBlocking, 3*f.tl.target+5*time.Second
	}
	r, err := f.v.fetch(ctx, kind, u, timeout)
	if err != nil {
		return err
	}
	return f.loaded(r, u)
}

// blockingURL is the playlist URL asking for (msn, part). Out of line, as
// is loaded: the frame of load sits under the blocking reload (see Client).
//
//go:noinline
func (f *hlsFollower) blockingURL(msn, part int) string {
	q := "_HLS_msn=" + strconv.Itoa(msn) + "&_HLS_part=" + strconv.Itoa(part)
	if f.v.cfg.Delta && f.tl != nil && f.tl.canSkip {
		q += "&_HLS_skip=YES"
	}
	return withQuery(f.vars[f.cur].url, q)
}

// loaded takes the playlist r from u.
//
//go:noinline
func (f *hlsFollower) loaded(r *response, u string) error {
	defer r.release()
	tl, err := parseMedia(r.Body)
	if err != nil {
		f.v.st.Errors.Add(1)
		f.v.res.Errors++
		return failed("media playlist", u, err)
	}
	f.tl, f.loadedAt = tl, time.Now()
	return nil
}

// loadRetrying loads until it works or ctx ends.
func (f *hlsFollower) loadRetrying(ctx context.Context, msn, part int) error {
	for attempt := 0; ; attempt++ {
		err := f.load(ctx, msn, part)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if f.v.failover() {
			return errFailover
		}
		if err := Sleep(ctx, backoff(attempt)); err != nil {
			return err
		}
	}
}

// start picks where playback begins, like hls.js: LL-HLS at PART-HOLD-BACK
// behind the live edge, from the independent part at or before it; HLS
// three target durations behind, from the segment containing it.
func (f *hlsFollower) start() (msn, part int, pos time.Time) {
	tl := f.tl
	edge := tl.edge()
	if f.ll {
		pos = edge.Add(-tl.holdBack)
		var all []item
		for i := max(0, len(tl.segs)-3); i < len(tl.segs); i++ {
			all = append(all, tl.segs[i].parts...)
		}
		all = append(all, tl.trailing...)
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].independent && !all[i].pdt.After(pos) {
				return all[i].msn, all[i].part, pos
			}
		}
		if len(all) > 0 {
			return all[0].msn, all[0].part, pos
		}
	}
	pos = edge.Add(-3 * tl.target)
	for i := len(tl.segs) - 1; i >= 0; i-- {
		if !tl.segs[i].pdt.After(pos) {
			return tl.segs[i].msn, 0, pos
		}
	}
	return tl.firstMSN, 0, pos
}

// follow is the playing loop: fetch the next item if listed, otherwise
// reload the playlist (blocking in LL-HLS), switching renditions at
// independent boundaries.
func (v *viewer) follow(ctx context.Context, vars []variant) error {
	f, bws := newFollower(v, vars)
	if err := f.loadRetrying(ctx, -1, 0); err != nil {
		return err
	}
	f.ll = v.cfg.Protocol == LLHLS && f.tl.partTgt > 0 && f.tl.canBlock
	v.buf.resume = 100 * time.Millisecond
	if err := v.fetchInit(ctx, f); err != nil {
		return err
	}
	msn, part, pos := f.start()
	v.buf.seek(pos)
	var nextPDT time.Time
	fails := 0
	for ctx.Err() == nil {
		if v.failover() {
			return errFailover
		}
		var it item
		var w where
		if f.ll {
			it, w, msn, part = f.tl.lookup(msn, part)
		} else {
			it, w = f.tl.segment(msn)
		}
		switch w {
		case behind:
			v.st.Behind.Add(1)
			if err := f.loadRetrying(ctx, -1, 0); err != nil {
				return err
			}
			msn, part, _ = f.start()
			nextPDT = time.Time{}
			continue
		case notYet:
			if f.tl.endlist {
				<-ctx.Done()
				return nil
			}
			var err error
			if f.ll {
				err = f.load(ctx, msn, part)
			} else {
				// hls.js reloads a live playlist every target duration.
				if err = Sleep(ctx, time.Until(f.loadedAt.Add(f.tl.target))); err == nil {
					err = f.load(ctx, -1, 0)
				}
			}
			if err != nil && ctx.Err() == nil {
				_ = Sleep(ctx, 200*time.Millisecond)
			}
			continue
		}
		if it.independent && it.part <= 0 && v.cfg.Rendition < 0 && len(vars) > 1 {
			if n := v.pick(bws, f.cur); n != f.cur {
				f.cur = n
				v.res.Switches++
				v.st.Switches.Add(1)
				if err := f.loadRetrying(ctx, -1, 0); err != nil {
					return err
				}
				if err := v.fetchInit(ctx, f); err != nil {
					return err
				}
				continue
			}
		}
		kind := KindSegment
		if it.part >= 0 {
			kind = KindPart
		}
		r, err := f.fetchMedia(ctx, kind, it.uri, bws[f.cur], msn, part)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if fails++; fails < 3 {
				_ = Sleep(ctx, backoff(fails))
				continue
			}
			// Give up on this object, as players do: the buffer model shows the hole.
		} else {
			r.release()
			pdt := it.pdt
			if pdt.IsZero() {
				pdt = nextPDT
				if pdt.IsZero() {
					pdt = time.Now()
				}
			}
			v.media(pdt, it.dur, f.tl.hasPDT)
			nextPDT = pdt.Add(it.dur)
		}
		fails = 0
		if it.part >= 0 {
			msn, part = it.msn, it.part+1
		} else {
			msn, part = it.msn+1, 0
		}
	}
	return nil
}

// newFollower starts following vars, at the rendition the viewer picks.
//
//go:noinline
func newFollower(v *viewer, vars []variant) (*hlsFollower, []int) {
	bws := make([]int, len(vars))
	for i, x := range vars {
		bws[i] = x.bw
	}
	return &hlsFollower{v: v, vars: vars, cur: v.pick(bws, -1)}, bws
}

// fetchMedia fetches the part or segment uri at (msn, part), with CMCD
// data at bitrate br. Out of line, as are the URL and CMCD building in it:
// the playing loop's frame sits under every request (see Client).
//
//go:noinline
func (f *hlsFollower) fetchMedia(ctx context.Context, kind Kind, uri string, br, msn, part int) (*response, error) {
	v := f.v
	u := f.vars[f.cur].media(uri)
	q, hdr := v.cmcd(br, v.nextRel(f, msn, part))
	return v.fetch(ctx, kind, withQuery(u, q), 10*time.Second, hdr...)
}

// fetchInit loads the rendition's initialization section.
func (v *viewer) fetchInit(ctx context.Context, f *hlsFollower) error {
	if f.tl.initURI == "" {
		return nil
	}
	for attempt := 0; ; attempt++ {
		r, err := v.fetch(ctx, KindSegment, f.vars[f.cur].media(f.tl.initURI), 10*time.Second)
		if err == nil {
			r.release()
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

// nextRel is the CMCD "nor" of the object after (msn, part), when listed.
func (v *viewer) nextRel(f *hlsFollower, msn, part int) string {
	if v.cfg.CMCD == "" {
		return ""
	}
	var it item
	var w where
	if f.ll {
		it, w, _, _ = f.tl.lookup(msn, part+1)
	} else {
		it, w = f.tl.segment(msn + 1)
	}
	if w != listed {
		return ""
	}
	return it.uri
}
