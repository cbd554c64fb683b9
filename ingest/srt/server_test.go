package srt

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"
	"github.com/datarhei/gosrt/packet"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
	"github.com/livecdn/livecdn/internal/testenv"
)

func TestPublish(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	src := testenv.Source{Duration: 3 * time.Second, Realtime: true, GOP: 30}
	p := testenv.PublishSource(t, src, "mpegts", e.url("publish:live/test"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, p.Output())
	}
	testenv.Eventually(t, 5*time.Second, "session closed after ffmpeg left", func() bool {
		s := e.rec.Stream("test")
		return s != nil && s.Closed() && !e.hub.Live("test")
	})

	s := e.rec.Stream("test")
	if s.Protocol != "srt" || len(s.Tracks) != 2 {
		t.Fatalf("stream = %+v", s.Stream)
	}
	h, ok := s.Tracks[0].Codec.(*codecs.H264)
	if !ok || len(h.SPS) == 0 || len(h.PPS) == 0 || s.Tracks[0].ClockRate != 90000 {
		t.Fatalf("video track = %#v", s.Tracks[0])
	}
	a, ok := s.Tracks[1].Codec.(*codecs.MPEG4Audio)
	if !ok || a.Config.SampleRate != 48000 || s.Tracks[1].ClockRate != 48000 {
		t.Fatalf("audio track = %#v", s.Tracks[1])
	}

	units := s.Units()
	first := map[int]ingest.Unit{}
	last := map[int]ingest.Unit{}
	for _, u := range units {
		if p, ok := last[u.Track]; ok && u.DTS <= p.DTS {
			t.Fatalf("track %d: DTS %d after %d", u.Track, u.DTS, p.DTS)
		}
		if _, ok := first[u.Track]; !ok {
			first[u.Track] = u
		}
		last[u.Track] = u
	}
	if !first[0].Key {
		t.Fatal("first video unit is not a keyframe")
	}
	for i, tr := range s.Tracks {
		span := float64(last[i].DTS-first[i].DTS) / float64(tr.ClockRate)
		t.Logf("track %d: first DTS %.3f s, last %.3f s", i, float64(first[i].DTS)/float64(tr.ClockRate), float64(last[i].DTS)/float64(tr.ClockRate))
		if span < 2.8 || span > 3.2 {
			t.Errorf("track %d spans %.3f s, want 3 ± 0.2 s", i, span)
		}
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	e := start(t, &ingest.Keys{Streams: map[string]string{"test": "s3cret"}})
	for _, id := range []string{"publish:live/test", "publish:live/test:wrong", "publish:live/test?key=wrong"} {
		began := time.Now()
		p := testenv.PublishSource(t, testenv.Source{Duration: 2 * time.Second, Realtime: true}, "mpegts", e.url(id))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.Wait(ctx)
		cancel()
		if err == nil {
			t.Fatalf("%s: ffmpeg succeeded, want a rejected handshake", id)
		}
		if d := time.Since(began); d > 5*time.Second {
			t.Errorf("%s: refused only after %v", id, d)
		}
		t.Logf("%s: ffmpeg failed as expected after %v: %s", id, time.Since(began).Round(time.Millisecond), strings.TrimSpace(p.Output()))
	}
	if e.rec.Stream("test") != nil {
		t.Fatal("handler saw a stream from a refused publisher")
	}

	for _, id := range []string{"publish:live/test:s3cret", "#!::r=live/test,m=publish,key=s3cret"} {
		n := e.rec.NumStreams()
		p := testenv.PublishSource(t, testenv.Source{Duration: time.Second, Realtime: true}, "mpegts", e.url(id))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := p.Wait(ctx)
		cancel()
		if err != nil {
			t.Fatalf("%s: ffmpeg: %v\n%s", id, err, p.Output())
		}
		testenv.Eventually(t, 5*time.Second, id+": session ends", func() bool { return !e.hub.Live("test") })
		ss := e.rec.Streams()
		if len(ss) != n+1 || ss[n].Name != "test" {
			t.Fatalf("%s: handler saw %d new streams, want one named test", id, len(ss)-n)
		}
		if got := ss[n].NumUnits(); got < 30 {
			t.Fatalf("%s: %d units, want a second of media", id, got)
		}
	}
}

// TestRejectReasons checks the reject codes a gosrt client gets back.
func TestRejectReasons(t *testing.T) {
	t.Parallel()
	e := start(t, &ingest.Keys{Streams: map[string]string{"test": "s3cret"}})
	for _, tc := range []struct {
		id   string
		want gosrt.RejectionReason
	}{
		{"publish:live/test:wrong", gosrt.REJX_UNAUTHORIZED},
		{"publish:live/test", gosrt.REJX_UNAUTHORIZED},
		{"read:live/test", gosrt.REJX_BAD_MODE},
		{"#!::r=live/test,key=s3cret", gosrt.REJX_BAD_MODE},
		{"publish:live/a.b", gosrt.REJX_BAD_REQUEST},
		{"nonsense", gosrt.REJX_BAD_REQUEST},
	} {
		cfg := gosrt.DefaultConfig()
		cfg.StreamId = tc.id
		conn, err := gosrt.Dial("srt", e.srv.Addr().String(), cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("%s: accepted", tc.id)
		}
		if want := packet.HandshakeType(tc.want).String(); !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %s", tc.id, err, want)
		}
	}
	if e.rec.Stream("test") != nil {
		t.Fatal("handler saw a refused stream")
	}
}

func TestSecondPublisherRefused(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	first := testenv.PublishSource(t, testenv.Source{Realtime: true}, "mpegts", e.url("publish:live/test"))
	st := e.rec.WaitStream(t, "test", 10*time.Second)
	st.WaitUnits(t, 11, 10*time.Second) // the first publisher is live

	second := testenv.PublishSource(t, testenv.Source{Duration: 2 * time.Second, Realtime: true}, "mpegts", e.url("publish:live/test"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := second.Wait(ctx); err == nil {
		t.Fatal("second publisher on a live name succeeded")
	}
	st.WaitMoreUnits(t, 21, 5*time.Second) // the first publisher keeps going
	select {
	case <-first.Done():
		t.Fatalf("first publisher died: %s", first.Output())
	default:
	}
	if n := e.rec.NumStreams(); n != 1 {
		t.Fatalf("handler saw %d streams, want 1", n)
	}
}

func TestGarbage(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	good := testenv.PublishSource(t, testenv.Source{Realtime: true}, "mpegts", e.url("publish:live/good"))
	st := e.rec.WaitStream(t, "good", 10*time.Second)
	st.WaitUnits(t, 11, 10*time.Second) // the good publisher is live

	// Garbage datagrams: random bytes, and headers that look like SRT control
	// and data packets (handshakes with nonsense bodies, unknown socket ids).
	udp, err := net.Dial("udp", e.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	rnd := newRand(7)
	for i := range 2000 {
		b := rnd.bytes(1 + i%1400)
		switch i % 4 {
		case 1: // control packet, type handshake, destination socket 0
			if len(b) >= 16 {
				b[0], b[1], b[2], b[3] = 0x80, 0x00, 0x00, 0x00
				b[12], b[13], b[14], b[15] = 0, 0, 0, 0
			}
		case 2: // a valid-looking induction handshake with a random tail
			b = append(inductionHeader(), rnd.bytes(i%64)...)
		}
		if _, err := udp.Write(b); err != nil {
			t.Fatal(err)
		}
	}

	// Garbage MPEG-TS over a valid SRT connection.
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = "publish:live/junk"
	conn := dialRetry(t, e.srv.Addr().String(), cfg)
	defer conn.Close()
	testenv.Eventually(t, 5*time.Second, "junk session claimed", func() bool { return e.hub.Live("junk") })
	for range 100 {
		if _, err := conn.Write(rnd.bytes(1316)); err != nil {
			break
		}
		time.Sleep(time.Millisecond) // stay within the live-mode send pacing
	}
	testenv.Eventually(t, 10*time.Second, "junk connection dropped", func() bool { return !e.hub.Live("junk") })
	testenv.Eventually(t, 5*time.Second, "a clear log line for the junk connection", func() bool {
		return strings.Contains(e.logs.String(), "no MPEG-TS packet sync")
	})
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "stream=junk") {
			t.Log(l)
		}
	}
	if e.rec.Stream("junk") != nil {
		t.Fatal("handler saw the junk stream")
	}

	st.WaitMoreUnits(t, 21, 5*time.Second) // the good publisher keeps going
	select {
	case <-good.Done():
		t.Fatalf("good publisher died: %s", good.Output())
	default:
	}
	// And the listener still completes new handshakes.
	cfg.StreamId = "publish:live/later"
	dialRetry(t, e.srv.Addr().String(), cfg).Close()
}

func TestPassphrase(t *testing.T) {
	t.Parallel()
	hub := ingest.NewHub(ingest.HubConfig{Handler: ingesttest.NewRecorder(), Logger: slog.New(slog.DiscardHandler)})
	srv, err := New(Config{Addr: "127.0.0.1:0", Passphrase: "correct horse", Logger: slog.New(slog.DiscardHandler)}, hub)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tc := range []struct {
		pass string
		want gosrt.RejectionReason
	}{
		{"", gosrt.REJ_UNSECURE},
		{"wrong passphrase", gosrt.REJ_BADSECRET},
		{"correct horse", 0},
	} {
		cfg := gosrt.DefaultConfig()
		cfg.StreamId = "publish:live/enc"
		cfg.Passphrase = tc.pass
		conn, err := gosrt.Dial("srt", srv.Addr().String(), cfg)
		if tc.want == 0 {
			if err != nil {
				t.Fatalf("right passphrase refused: %v", err)
			}
			testenv.Eventually(t, 5*time.Second, "session claimed", func() bool { return hub.Live("enc") })
			conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Fatalf("passphrase %q accepted", tc.pass)
		}
		if want := packet.HandshakeType(tc.want).String(); !strings.Contains(err.Error(), want) {
			t.Errorf("passphrase %q: %v, want %s", tc.pass, err, want)
		}
	}
	if _, err := New(Config{Addr: "127.0.0.1:0", Passphrase: "short"}, hub); err == nil {
		t.Fatal("short passphrase accepted")
	}
}

func TestCloseEndsSessions(t *testing.T) {
	t.Parallel()
	e := start(t, nil)
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = "publish:live/idle"
	conn, err := gosrt.Dial("srt", e.srv.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	testenv.Eventually(t, 5*time.Second, "session claimed", func() bool { return e.hub.Live("idle") })
	began := time.Now()
	e.srv.Close()
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("Close took %v", d)
	}
	if e.hub.Live("idle") {
		t.Fatal("session still live after Close")
	}
	e.srv.Close() // a second Close is harmless
}

func TestTakeoverDropsOldConnection(t *testing.T) {
	t.Parallel()
	logs := &ingesttest.Logs{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	hub := ingest.NewHub(ingest.HubConfig{Handler: ingesttest.NewRecorder(), Takeover: true, Logger: log})
	srv, err := New(Config{Addr: "127.0.0.1:0", Logger: log}, hub)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = "publish:live/cam"
	old, err := gosrt.Dial("srt", srv.Addr().String(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	testenv.Eventually(t, 5*time.Second, "first session", func() bool { return hub.Live("cam") })
	newer, err := gosrt.Dial("srt", srv.Addr().String(), cfg)
	if err != nil {
		t.Fatalf("takeover refused: %v", err)
	}
	defer newer.Close()
	testenv.Eventually(t, 5*time.Second, "old connection dropped", func() bool {
		return strings.Contains(logs.String(), "taken over")
	})
	if !hub.Live("cam") {
		t.Fatal("the new session lost the name")
	}
}
