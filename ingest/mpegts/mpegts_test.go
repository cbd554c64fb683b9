package mpegts

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	tsfmt "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts"
	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
)

var (
	testSPS = []byte{ // 1920x1080 baseline
		0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02,
		0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04,
		0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20,
	}
	testPPS  = []byte{0x68, 0xce, 0x3c, 0x80}
	testIDR  = []byte{0x65, 0x88, 0x84, 0x00, 0x10}
	testP    = []byte{0x41, 0x9a, 0x02, 0x03}
	testAUD  = []byte{0x09, 0xf0}
	testVPS  = []byte{0x40, 0x01, 0x0c, 0x01, 0xff, 0xff, 0x01, 0x60}
	testSPS5 = []byte{
		0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x03,
		0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00, 0x03,
		0x00, 0x78, 0xa0, 0x03, 0xc0, 0x80, 0x10, 0xe5,
		0x96, 0x66, 0x69, 0x24, 0xca, 0xe0, 0x10, 0x00,
		0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x01,
		0xe0, 0x80,
	}
	testPPS5 = []byte{0x44, 0x01, 0xc1, 0x72, 0xb4}
	testIDR5 = []byte{0x26, 0x01, 0xaf, 0x08} // IDR_W_RADL
	testP5   = []byte{0x02, 0x01, 0xd0, 0x09} // TRAIL_R
	aacConf  = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelConfig: 2, ChannelCount: 2}
)

// tsWriter builds test streams with mediacommon's muxer.
type tsWriter struct {
	t      testing.TB
	buf    bytes.Buffer
	w      *tsfmt.Writer
	tracks []*tsfmt.Track
}

func newTSWriter(t testing.TB, cs ...tscodecs.Codec) *tsWriter {
	tw := &tsWriter{t: t}
	for _, c := range cs {
		tw.tracks = append(tw.tracks, &tsfmt.Track{Codec: c})
	}
	tw.w = &tsfmt.Writer{W: &tw.buf, Tracks: tw.tracks}
	if err := tw.w.Initialize(); err != nil {
		t.Fatal(err)
	}
	return tw
}

func (tw *tsWriter) h264(i int, pts, dts int64, au ...[]byte) {
	tw.t.Helper()
	if err := tw.w.WriteH264(tw.tracks[i], pts&mask33, dts&mask33, au); err != nil {
		tw.t.Fatal(err)
	}
}

func (tw *tsWriter) h265(i int, pts, dts int64, au ...[]byte) {
	tw.t.Helper()
	if err := tw.w.WriteH265(tw.tracks[i], pts&mask33, dts&mask33, au); err != nil {
		tw.t.Fatal(err)
	}
}

func (tw *tsWriter) aac(i int, pts int64, aus ...[]byte) {
	tw.t.Helper()
	if err := tw.w.WriteMPEG4Audio(tw.tracks[i], pts&mask33, aus); err != nil {
		tw.t.Fatal(err)
	}
}

func (tw *tsWriter) opus(i int, pts int64, pkts ...[]byte) {
	tw.t.Helper()
	if err := tw.w.WriteOpus(tw.tracks[i], pts&mask33, pkts); err != nil {
		tw.t.Fatal(err)
	}
}

func read(t *testing.T, b []byte) (*ingesttest.Session, error) {
	t.Helper()
	rec := &ingesttest.Session{}
	err := Read(context.Background(), bytes.NewReader(b), rec)
	return rec, err
}

func TestH264AAC(t *testing.T) {
	tw := newTSWriter(t, &tscodecs.H264{}, &tscodecs.MPEG4Audio{Config: aacConf})
	tw.aac(1, 80000, []byte{1, 1})             // before the first keyframe: dropped
	tw.h264(0, 90000, 90000, testP)            // no parameters yet: dropped
	tw.h264(0, 93000, 90000, testSPS, testIDR) // no PPS yet: dropped
	tw.aac(1, 99000, []byte{2, 2})             // before the keyframe's PTS: dropped
	tw.h264(0, 105000, 99000, testAUD, testSPS, testPPS, testIDR)
	tw.aac(1, 100000, []byte{3, 3}) // after the keyframe but before its PTS: dropped
	tw.h264(0, 102000, 102000, testAUD, testP)
	tw.aac(1, 105000, []byte{4, 4}, []byte{5, 5})
	tw.h264(0, 111000, 105000, testP)
	tw.aac(1, 111000, []byte{6, 6})

	rec, err := read(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tracks := rec.Tracks()
	if rec.Starts() != 1 || len(tracks) != 2 {
		t.Fatalf("starts=%d tracks=%d", rec.Starts(), len(tracks))
	}
	h, ok := tracks[0].Codec.(*codecs.H264)
	if !ok || !bytes.Equal(h.SPS, testSPS) || !bytes.Equal(h.PPS, testPPS) || tracks[0].ClockRate != 90000 {
		t.Fatalf("video track = %#v", tracks[0])
	}
	a, ok := tracks[1].Codec.(*codecs.MPEG4Audio)
	if !ok || a.Config.SampleRate != 48000 || a.Config.ChannelConfig != 2 || tracks[1].ClockRate != 48000 {
		t.Fatalf("audio track = %#v", tracks[1])
	}

	v := rec.TrackUnits(0)
	if len(v) != 3 {
		t.Fatalf("%d video units, want 3", len(v))
	}
	if !v[0].Key || v[0].DTS != 99000 || v[0].PTS != 105000 || len(v[0].Data) != 3 || v[0].Data[0][0] != testSPS[0] {
		t.Fatalf("first video unit = %+v", v[0])
	}
	if v[1].Key || len(v[1].Data) != 1 || !bytes.Equal(v[1].Data[0], testP) {
		t.Fatalf("AUD not removed or wrong key: %+v", v[1])
	}

	au := rec.TrackUnits(1)
	// 105000 (90 kHz) is 56000 at 48 kHz; the second frame of that PES is 1024 later.
	want := []int64{56000, 56000 + 1024, 59200}
	if len(au) != len(want) {
		t.Fatalf("%d audio units, want %d", len(au), len(want))
	}
	for i, u := range au {
		if u.PTS != want[i] || u.DTS != want[i] || !u.Key || len(u.Data) != 1 {
			t.Errorf("audio unit %d = %+v, want PTS %d", i, u, want[i])
		}
	}
	for _, u := range rec.Units() {
		if u.Received.IsZero() {
			t.Fatal("Received not set")
		}
	}
}

func TestTimestampWrap(t *testing.T) {
	tw := newTSWriter(t, &tscodecs.H264{})
	start := int64(mask33 - 5*3000)
	for i := range int64(12) {
		dts := start + i*3000
		if i == 0 {
			tw.h264(0, dts+6000, dts, testSPS, testPPS, testIDR)
		} else {
			tw.h264(0, dts+6000, dts, testP)
		}
	}
	rec, err := read(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	units := rec.Units()
	if len(units) != 12 {
		t.Fatalf("%d units", len(units))
	}
	for i, u := range units {
		if want := start + int64(i)*3000; u.DTS != want || u.PTS != want+6000 {
			t.Fatalf("unit %d: DTS %d PTS %d, want %d", i, u.DTS, u.PTS, want)
		}
	}
}

func TestH265Opus(t *testing.T) {
	tw := newTSWriter(t, &tscodecs.H265{}, &tscodecs.Opus{ChannelCount: 2})
	tw.h265(0, 1000, 1000, testP5)
	tw.h265(0, 4000, 4000, testVPS, testSPS5, testPPS5, testIDR5)
	// TOC 0xfc: CELT FB 20 ms, one frame; 0xfd: two frames of 20 ms.
	tw.opus(1, 4000, []byte{0xfc, 1}, []byte{0xfd, 2, 3})
	tw.h265(0, 7000, 7000, testP5)
	tw.opus(1, 10000, []byte{0xfc, 4})

	rec, err := read(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	tracks := rec.Tracks()
	h, ok := tracks[0].Codec.(*codecs.H265)
	if !ok || !bytes.Equal(h.VPS, testVPS) || !bytes.Equal(h.SPS, testSPS5) || !bytes.Equal(h.PPS, testPPS5) {
		t.Fatalf("video codec = %#v", tracks[0].Codec)
	}
	if o, ok := tracks[1].Codec.(*codecs.Opus); !ok || o.ChannelCount != 2 || tracks[1].ClockRate != 48000 {
		t.Fatalf("audio track = %#v", tracks[1])
	}
	v := rec.TrackUnits(0)
	if len(v) != 2 || !v[0].Key || v[1].Key || len(v[0].Data) != 4 {
		t.Fatalf("video units = %+v", v)
	}
	var pts []int64
	for _, u := range rec.TrackUnits(1) {
		pts = append(pts, u.PTS)
	}
	// 4000 at 90 kHz = 2133 at 48 kHz (floor); then +960 (20 ms).
	if want := []int64{2133, 2133 + 960, 5333}; !equal(pts, want) {
		t.Fatalf("opus PTS = %v, want %v", pts, want)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := make([]byte, 200<<10)
	for i := range garbage {
		garbage[i] = byte(rng.Uint32())
	}

	noPPS := newTSWriter(t, &tscodecs.H264{})
	for i := range int64(20 * 30) {
		noPPS.h264(0, i*3000, i*3000, testSPS, testIDR)
	}

	mp2 := newTSWriter(t, &tscodecs.MPEG1Audio{})
	if err := mp2.w.WriteMPEG1Audio(mp2.tracks[0], 0, [][]byte{{0xff, 0xfb, 0x90, 0x64, 0, 0, 0, 0}}); err != nil {
		t.Fatal(err)
	}

	good := newTSWriter(t, &tscodecs.H264{})
	good.h264(0, 0, 0, testSPS, testPPS, testIDR)
	good.h264(0, 3000, 3000, testP)
	onlyTables := good.buf.Bytes()[:188*2]

	// Valid packet framing on the video PID, nonsense inside.
	junkPES := append([]byte(nil), good.buf.Bytes()[:188*2]...)
	for range 300 {
		p := make([]byte, 188)
		p[0], p[1], p[2], p[3] = 0x47, 0x41, 0x00, 0x10 // PUSI on PID 256
		for i := 4; i < 188; i++ {
			p[i] = byte(rng.Uint32())
		}
		junkPES = append(junkPES, p...)
	}

	// Every AU loses its first start code, so each PES is a decode error.
	broken := newTSWriter(t, &tscodecs.H264{})
	for i := range int64(150) {
		broken.h264(0, i*3000, i*3000, testSPS, testPPS, testIDR)
	}
	brokenTS := bytes.ReplaceAll(broken.buf.Bytes(), []byte{0, 0, 0, 1, 9, 0xf0}, []byte{0xff, 0xff, 0xff, 0xff, 9, 0xf0})

	for _, tc := range []struct {
		name string
		in   []byte
		is   error
		msg  string
	}{
		{"empty", nil, ErrMalformed, "PAT/PMT"},
		{"garbage", garbage, ErrMalformed, "sync"},
		{"no PPS", noPPS.buf.Bytes(), ErrMalformed, "PPS"},
		{"unsupported", mp2.buf.Bytes(), ErrUnsupported, "MPEG-1/2 audio"},
		{"ends before start", onlyTables, ErrMalformed, "ended before"},
		{"junk PES", junkPES, ErrMalformed, ""},
		{"decode errors", brokenTS, ErrMalformed, "decode errors in a row"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := read(t, tc.in)
			t.Log(err)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v containing %q", err, tc.is, tc.msg)
			}
		})
	}
}

// failingReader returns its data, then a network error.
type failingReader struct {
	b   []byte
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

func TestReadErrorAndContext(t *testing.T) {
	tw := newTSWriter(t, &tscodecs.H264{})
	for i := range int64(10) {
		tw.h264(0, i*3000, i*3000, testSPS, testPPS, testIDR)
	}
	netErr := errors.New("connection reset")
	err := Read(context.Background(), &failingReader{b: tw.buf.Bytes(), err: netErr}, &ingesttest.Session{})
	if !errors.Is(err, netErr) {
		t.Fatalf("err = %v, want the reader's error", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Read(ctx, bytes.NewReader(tw.buf.Bytes()), &ingesttest.Session{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestSessionErrorStops(t *testing.T) {
	tw := newTSWriter(t, &tscodecs.H264{})
	for i := range int64(10) {
		tw.h264(0, i*3000, i*3000, testSPS, testPPS, testIDR)
	}
	err := Read(context.Background(), bytes.NewReader(tw.buf.Bytes()), sessionFunc(func(*ingest.Unit) error { return ingest.ErrClosed }))
	if !errors.Is(err, ingest.ErrClosed) {
		t.Fatalf("err = %v, want the session's error", err)
	}
}

type sessionFunc func(*ingest.Unit) error

func (sessionFunc) Start([]*ingest.Track) error      { return nil }
func (f sessionFunc) WriteUnit(u *ingest.Unit) error { return f(u) }

func TestAudioOnlyStartsAtOnce(t *testing.T) {
	conf := aacConf
	conf.SampleRate = 44100
	tw := newTSWriter(t, &tscodecs.MPEG4Audio{Config: conf})
	tw.aac(0, 90000, []byte{1}, []byte{2})
	tw.aac(0, 90000+2*2090, []byte{3})
	rec, err := read(t, tw.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if tracks := rec.Tracks(); len(tracks) != 1 || tracks[0].ClockRate != 44100 {
		t.Fatalf("tracks %+v", tracks)
	}
	var pts []int64
	for _, u := range rec.Units() {
		pts = append(pts, u.PTS)
	}
	// 90000 ticks = 1 s = 44100 samples; 94180 ticks = 46148.2 → 46148.
	if want := []int64{44100, 44100 + 1024, 46148}; !equal(pts, want) {
		t.Fatalf("PTS %v, want %v", pts, want)
	}
}
