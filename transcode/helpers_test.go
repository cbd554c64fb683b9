package transcode

import (
	"errors"
	"fmt"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/ingest/rtmp"
	"github.com/livecdn/livecdn/internal/testenv"
)

// env is a Transcoder in front of a Recorder, fed by a real RTMP server.
type env struct {
	tc   *Transcoder
	rec  *ingesttest.Recorder
	hub  *ingest.Hub
	srv  *rtmp.Server
	logs *ingesttest.Logs
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	testenv.NeedFFmpeg(t)
	e := &env{rec: ingesttest.NewRecorder(), logs: &ingesttest.Logs{}}
	cfg.Logger = e.logs.Logger()
	e.tc = New(cfg, e.rec)
	e.hub = ingest.NewHub(ingest.HubConfig{Handler: e.tc, Logger: cfg.Logger})
	srv, err := rtmp.New(rtmp.Config{Addr: "127.0.0.1:0", Logger: cfg.Logger}, e.hub)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(func() {
		e.hub.Close()
		e.srv.Close()
		e.tc.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", e.logs.String())
		}
	})
	return e
}

func (e *env) url(stream string) string {
	return fmt.Sprintf("rtmp://%s/live/%s", e.srv.Addr(), stream)
}

// trackNames lists the rendition names of a recorded stream.
func trackNames(r *ingesttest.Recording) []string {
	var out []string
	for _, tr := range r.Tracks {
		out = append(out, tr.Name)
	}
	return out
}

// spsSize reads the picture size of an H.264 track.
func spsSize(t *testing.T, tr *ingest.Track) (int, int) {
	t.Helper()
	c, ok := tr.Codec.(*codecs.H264)
	if !ok {
		t.Fatalf("track %q is %T, want H.264", tr.Name, tr.Codec)
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS); err != nil {
		t.Fatalf("track %q: sps: %v", tr.Name, err)
	}
	return sps.Width(), sps.Height()
}

// keyPTS returns the sorted PTS of the keyframes among units within [from, to].
func keyPTS(us []ingest.Unit, from, to int64) []int64 {
	var out []int64
	for _, u := range us {
		if u.Key && u.PTS >= from && u.PTS <= to {
			out = append(out, u.PTS)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// span returns the first and last PTS of units.
func span(us []ingest.Unit) (int64, int64) {
	if len(us) == 0 {
		return 0, 0
	}
	lo, hi := us[0].PTS, us[0].PTS
	for _, u := range us {
		lo, hi = min(lo, u.PTS), max(hi, u.PTS)
	}
	return lo, hi
}

// gone reports whether no process with pid exists any more (reaped, not a zombie).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// waitMedia waits until track i of r has at least d of media.
func waitMedia(t *testing.T, r *ingesttest.Recording, i int, d, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, fmt.Sprintf("%v of media in track %d (%s)", d, i, r.Tracks[i].Name), func() bool {
		lo, hi := span(r.TrackUnits(i))
		return time.Duration(float64(hi-lo)/float64(r.Tracks[i].ClockRate)*float64(time.Second)) >= d
	})
}
