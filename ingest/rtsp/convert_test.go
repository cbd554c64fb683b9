package rtsp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"testing"

	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"

	"github.com/livecdn/livecdn/ingest"
)

// A real x264 SPS (with timing info) and short slices, as in mediacommon's
// DTS extractor tests; enough for the extractor to parse.
var (
	testSPS    = []byte{0x67, 0x64, 0x00, 0x28, 0xac, 0xd9, 0x40, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03, 0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc6, 0x58}
	testPPS    = []byte{0x68, 0xee, 0x3c, 0x80}
	testIDR    = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	testNonIDR = []byte{0x41, 0x9a, 0x21, 0x6c, 0x45, 0xff}
	testAUD    = []byte{0x09, 0xf0}
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestPublishRequest(t *testing.T) {
	basic := func(user, pass string) base.HeaderValue {
		return base.HeaderValue{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	}
	cases := []struct {
		path, query string
		authz       base.HeaderValue
		name, key   string
		err         error
	}{
		{"/live/test", "", nil, "test", "", nil},
		{"/live/test/", "", nil, "test", "", nil},
		{"live/test", "key=abc", nil, "test", "abc", nil},
		{"/live/test", "key=abc", basic("u", "other"), "test", "abc", nil},
		{"/live/test", "", basic("u", "s3cret"), "test", "s3cret", nil},
		{"/live/test", "", basic("", "s3cret"), "test", "s3cret", nil},
		{"/live/test", "", base.HeaderValue{`Digest username="u", realm="r", nonce="n", uri="x", response="y"`}, "test", "", nil},
		{"/live/test", "", base.HeaderValue{"Basic !!!"}, "test", "", nil},
		{"/live/a/b", "", nil, "", "", ingest.ErrBadName},
		{"/vod/test", "", nil, "", "", ingest.ErrBadName},
		{"/live/", "", nil, "", "", ingest.ErrBadName},
		{"/live/../x", "", nil, "", "", ingest.ErrBadName},
	}
	for _, tc := range cases {
		name, key, err := publishRequest(tc.path, tc.query, tc.authz)
		if !errors.Is(err, tc.err) || name != tc.name || key != tc.key {
			t.Errorf("publishRequest(%q, %q, %q) = %q, %q, %v; want %q, %q, %v",
				tc.path, tc.query, tc.authz, name, key, err, tc.name, tc.key, tc.err)
		}
	}
}

func FuzzPublishRequest(f *testing.F) {
	f.Add("/live/test", "key=abc", "Basic dTpzM2NyZXQ=")
	f.Add("/live/x/", "", "Digest username=\"u\"")
	f.Add("live", "key=%zz", "Basic")
	f.Fuzz(func(t *testing.T, path, query, authz string) {
		name, key, err := publishRequest(path, query, base.HeaderValue{authz})
		if err != nil {
			if name != "" || key != "" {
				t.Fatalf("error %v with name %q key %q", err, name, key)
			}
			return
		}
		if !ingest.ValidName(name) {
			t.Fatalf("accepted invalid name %q", name)
		}
	})
}

func TestAACSeveralAUsPerPacket(t *testing.T) {
	f := &format.MPEG4Audio{
		PayloadTyp: 97, SizeLength: 13, IndexLength: 3, IndexDeltaLength: 3,
		Config: &mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2},
	}
	conv, err := newConverter(f, discard())
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := conv.track.Codec.(*codecs.MPEG4Audio); !ok || c.Config.SampleRate != 48000 || conv.track.ClockRate != 48000 {
		t.Fatalf("track %#v @%d", conv.track.Codec, conv.track.ClockRate)
	}
	enc, err := f.CreateEncoder()
	if err != nil {
		t.Fatal(err)
	}
	aus := [][]byte{{1, 2, 3}, {4, 5}, {6, 7, 8, 9}}
	pkts, err := enc.Encode(aus)
	if err != nil || len(pkts) != 1 {
		t.Fatalf("encode: %v, %d packets", err, len(pkts))
	}
	units, err := conv.codec.decode(pkts[0], 5000)
	if err != nil {
		t.Fatal(err)
	}
	if len(units) != 3 {
		t.Fatalf("%d units, want 3", len(units))
	}
	for i, u := range units {
		want := int64(5000 + 1024*i)
		if u.PTS != want || u.DTS != want || !u.Key || !bytes.Equal(u.Data[0], aus[i]) {
			t.Errorf("unit %d: PTS %d DTS %d key %v data %v; want PTS=DTS=%d %v", i, u.PTS, u.DTS, u.Key, u.Data[0], want, aus[i])
		}
		if cap(u.Data[0]) != len(u.Data[0]) {
			t.Errorf("unit %d shares capacity with the next AU", i)
		}
	}
}

func newH264(t testing.TB, sps, pps []byte) *converter {
	conv, err := newConverter(&format.H264{PayloadTyp: 96, PacketizationMode: 1, SPS: sps, PPS: pps}, discard())
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

func TestVideoInBandParams(t *testing.T) {
	conv := newH264(t, nil, nil)
	v := conv.codec.(*videoConverter)
	if v.ready() {
		t.Fatal("ready without parameter sets")
	}
	// A non-IDR picture before any parameter set is dropped.
	if units, _ := v.accessUnit([][]byte{testNonIDR}, 0); len(units) != 0 {
		t.Fatal("unit before parameter sets")
	}
	units, err := v.accessUnit([][]byte{testAUD, testSPS, testPPS, testIDR}, 3000)
	if err != nil || len(units) != 1 {
		t.Fatalf("IDR with parameters: %v, %d units", err, len(units))
	}
	h, ok := conv.track.Codec.(*codecs.H264)
	if !ok || !bytes.Equal(h.SPS, testSPS) || !bytes.Equal(h.PPS, testPPS) {
		t.Fatalf("codec %#v", conv.track.Codec)
	}
	if u := units[0]; !u.Key || len(u.Data) != 3 || u.Data[0][0] != 0x67 {
		t.Fatalf("IDR unit: key %v, %d NALUs (the AUD must go)", u.Key, len(u.Data))
	}
	units, err = v.accessUnit([][]byte{testNonIDR}, 6000)
	if err != nil || len(units) != 1 || units[0].Key {
		t.Fatalf("non-IDR: %v, %d units", err, len(units))
	}
	// A later IDR without parameter sets gets them put in front.
	units, err = v.accessUnit([][]byte{testIDR}, 9000)
	if err != nil || len(units) != 1 {
		t.Fatalf("bare IDR: %v, %d units", err, len(units))
	}
	if d := units[0].Data; len(d) != 3 || !bytes.Equal(d[0], testSPS) || !bytes.Equal(d[1], testPPS) || !bytes.Equal(d[2], testIDR) {
		t.Fatalf("bare IDR became %x", d)
	}
	// A second, different SPS does not touch the started track's codec.
	changed := append(bytes.Clone(testSPS[:len(testSPS)-1]), 0x59)
	_, _ = v.accessUnit([][]byte{changed, testPPS, testIDR}, 12000)
	if !bytes.Equal(conv.track.Codec.(*codecs.H264).SPS, testSPS) {
		t.Fatal("codec changed after start")
	}
}

// TestVideoSplitByTimestamp covers senders that never set the RTP marker:
// the decoder completes an AU when the next one starts, and the AU must keep
// its own timestamp.
func TestVideoSplitByTimestamp(t *testing.T) {
	conv := newH264(t, testSPS, testPPS)
	pkt := func(ts uint32, nalu []byte) *rtp.Packet {
		return &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Timestamp: ts}, Payload: nalu}
	}
	var got []*ingest.Unit
	for i, nalu := range [][]byte{testIDR, testNonIDR, testNonIDR} {
		units, err := conv.codec.decode(pkt(uint32(i*3000), nalu), int64(100000+i*3000))
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, units...)
	}
	if len(got) != 2 || got[0].PTS != 100000 || got[1].PTS != 103000 || !got[0].Key {
		for _, u := range got {
			t.Logf("unit PTS %d key %v", u.PTS, u.Key)
		}
		t.Fatalf("got %d units, want PTS 100000 (key) and 103000", len(got))
	}
}

// FuzzVideoConverter feeds arbitrary RTP payloads through the H.264 and
// H.265 converters: whatever arrives, they must not panic, must not emit
// empty NAL units, and must keep DTS rising.
func FuzzVideoConverter(f *testing.F) {
	seed := func(nalus ...[]byte) []byte {
		var b []byte
		for _, n := range nalus {
			b = append(b, byte(len(n)), 0x80)
			b = append(b, n...)
		}
		return b
	}
	f.Add(seed(testSPS, testPPS, testIDR, testNonIDR, testAUD, testNonIDR))
	f.Add(seed([]byte{0x7c, 0x85, 1, 2, 3}, []byte{0x7c, 0x45, 4, 5}))                 // FU-A
	f.Add(seed([]byte{0x18, 0, 2, 0x09, 0xf0, 0, 6, 0x65, 0x88, 0x84, 0, 0x33, 0xff})) // STAP-A
	f.Add(seed([]byte{0x40, 0x01, 0x0c}, []byte{0x26, 0x01, 0xaf}, []byte{0x62, 0x01, 0x93, 0xaf}))
	f.Fuzz(func(t *testing.T, data []byte) {
		h264c := newH264(t, nil, nil)
		h265c, err := newConverter(&format.H265{PayloadTyp: 96}, discard())
		if err != nil {
			t.Fatal(err)
		}
		for _, conv := range []*converter{h264c, h265c} {
			var lastDTS int64
			first := true
			rest := data
			for ts := uint32(0); len(rest) >= 2; ts += 3000 {
				n, flags := int(rest[0]), rest[1]
				rest = rest[2:]
				n = min(n, len(rest))
				payload := bytes.Clone(rest[:n])
				rest = rest[n:]
				// flags: bit 7 marker, bit 6 keep the previous timestamp.
				if flags&0x40 != 0 && ts > 0 {
					ts -= 3000
				}
				p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, Marker: flags&0x80 != 0, Timestamp: ts}, Payload: payload}
				units, err := conv.codec.decode(p, int64(ts))
				if err != nil && units != nil {
					t.Fatal("units with an error")
				}
				for _, u := range units {
					for _, nalu := range u.Data {
						if len(nalu) == 0 {
							t.Fatal("empty NAL unit")
						}
					}
					if !first && u.DTS <= lastDTS {
						t.Fatalf("DTS %d after %d", u.DTS, lastDTS)
					}
					first, lastDTS = false, u.DTS
				}
			}
		}
	})
}

// The decoders' "need more packets" sentinels are what keeps partial access
// units quiet; make sure the ones we list are the ones the decoders return.
func TestNeedMoreSentinels(t *testing.T) {
	d := &rtph264.Decoder{PacketizationMode: 1}
	if err := d.Init(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Decode(&rtp.Packet{Header: rtp.Header{Timestamp: 1}, Payload: []byte{0x7c, 0x85, 1, 2}})
	if !h264Kind.isNeedMoreErr(err) {
		t.Errorf("H.264 FU-A start: %v is not treated as 'need more'", err)
	}
	d5 := &rtph265.Decoder{}
	if err := d5.Init(); err != nil {
		t.Fatal(err)
	}
	_, err = d5.Decode(&rtp.Packet{Header: rtp.Header{Timestamp: 1}, Payload: []byte{0x62, 0x01, 0x93, 0xaf}})
	if !h265Kind.isNeedMoreErr(err) {
		t.Errorf("H.265 FU start: %v is not treated as 'need more'", err)
	}
}
