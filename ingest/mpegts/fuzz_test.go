package mpegts

import (
	"bytes"
	"context"
	"strings"
	"testing"

	tscodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mpegts/codecs"

	"github.com/livecdn/livecdn/ingest/ingesttest"
)

// FuzzRead feeds arbitrary bytes to Read: it must end with an error or nil,
// never panic, and whatever it delivers must be consistent.
func FuzzRead(f *testing.F) {
	a := newTSWriter(f, &tscodecs.H264{}, &tscodecs.MPEG4Audio{Config: aacConf})
	a.h264(0, 3000, 0, testSPS, testPPS, testIDR)
	a.aac(1, 3000, []byte{1, 2}, []byte{3})
	a.h264(0, 6000, 3000, testP)
	a.aac(1, 6000, []byte{4})
	b := newTSWriter(f, &tscodecs.H265{}, &tscodecs.Opus{ChannelCount: 2})
	b.h265(0, 0, 0, testVPS, testSPS5, testPPS5, testIDR5)
	b.opus(1, 0, []byte{0xfc, 1}, []byte{0xff, 3, 1})
	b.h265(0, 3000, 3000, testP5)
	f.Add(a.buf.Bytes())
	f.Add(b.buf.Bytes())
	f.Add(a.buf.Bytes()[:188*3])
	f.Add([]byte{0x47, 0x40, 0x00, 0x10, 0x00})
	f.Add([]byte("not a transport stream"))

	f.Fuzz(func(t *testing.T, in []byte) {
		rec := &ingesttest.Session{}
		err := Read(context.Background(), bytes.NewReader(in), rec)
		if err != nil && strings.Contains(err.Error(), "parser failure") {
			t.Fatalf("mediacommon panicked: %v", err)
		}
		tracks := rec.Tracks()
		if rec.Starts() > 1 {
			t.Fatalf("Start called %d times", rec.Starts())
		}
		if rec.Starts() == 1 && len(tracks) == 0 {
			t.Fatal("Start without tracks")
		}
		for _, u := range rec.Units() {
			if u.Track < 0 || u.Track >= len(tracks) {
				t.Fatalf("unit for track %d of %d", u.Track, len(tracks))
			}
			if len(u.Data) == 0 {
				t.Fatal("unit without data")
			}
			tr := tracks[u.Track]
			if tr.Codec == nil || tr.ClockRate <= 0 {
				t.Fatalf("incomplete track %+v", tr)
			}
			for _, n := range u.Data {
				if len(n) == 0 {
					t.Fatal("empty NAL unit or frame")
				}
			}
		}
	})
}
