package transcode

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/livecdn/livecdn/internal/testenv"
)

// fullBox builds a box with a version/flags header.
func fullBox(typ string, version byte, flags uint32, payload ...[]byte) []byte {
	b := []byte{version, byte(flags >> 16), byte(flags >> 8), byte(flags)}
	for _, p := range payload {
		b = append(b, p...)
	}
	return plainBox(typ, b)
}

func plainBox(typ string, payload ...[]byte) []byte {
	n := 8
	for _, p := range payload {
		n += len(p)
	}
	b := binary.BigEndian.AppendUint32(nil, uint32(n))
	b = append(b, typ...)
	for _, p := range payload {
		b = append(b, p...)
	}
	return b
}

func u32(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// fragmentBytes builds a moof+mdat the way ffmpeg does with
// default_base_moof: two samples with sizes, flags and composition offsets.
func fragmentBytes(dataOffset bool) (moof, mdat []byte) {
	data := []byte("0123456789")
	build := func(off uint32) []byte {
		trunFlags := uint32(trunSize | trunFlags | trunCTO | trunDuration)
		fields := []byte{}
		if dataOffset {
			trunFlags |= trunDataOffset
			fields = u32(off)
		}
		trun := fullBox("trun", 1, trunFlags, u32(2), fields,
			u32(3000, 4, 0x02000000, 0xfffffc18), // keyframe, CTO -1000
			u32(3000, 6, 0x01010000, 3000))
		traf := plainBox("traf", fullBox("tfhd", 0, 0x020000|tfhdDefaultDuration, u32(1, 3000)),
			fullBox("tfdt", 1, 0, []byte{0, 0, 0, 1, 0, 0, 0, 0}), trun)
		return plainBox("moof", fullBox("mfhd", 0, 0, u32(7)), traf)
	}
	moof = build(0)
	moof = build(uint32(len(moof) + 8))
	return moof, plainBox("mdat", data)
}

func TestParseFragment(t *testing.T) {
	for _, withOffset := range []bool{true, false} {
		moof, mdat := fragmentBytes(withOffset)
		ss, err := parseFragment(moof, mdat, 8, trackDefaults{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(ss) != 2 {
			t.Fatalf("%d samples", len(ss))
		}
		if ss[0].DTS != 1<<32 || ss[0].CTO != -1000 || !ss[0].isSync() || string(ss[0].Data) != "0123" {
			t.Errorf("sample 0: %+v", ss[0])
		}
		if ss[1].DTS != 1<<32+3000 || ss[1].CTO != 3000 || ss[1].isSync() || string(ss[1].Data) != "456789" {
			t.Errorf("sample 1: %+v", ss[1])
		}
	}
	moof, mdat := fragmentBytes(true)
	if _, err := parseFragment(moof, mdat[:len(mdat)-1], 8, trackDefaults{}, nil); err == nil {
		t.Error("a sample past the end of the mdat was accepted")
	}
}

// FuzzParseFragment: no input makes the parser panic or hand out bytes from
// outside the mdat payload.
func FuzzParseFragment(f *testing.F) {
	moof, mdat := fragmentBytes(true)
	f.Add(moof, mdat)
	moof, mdat = fragmentBytes(false)
	f.Add(moof, mdat)
	f.Fuzz(func(t *testing.T, moof, mdat []byte) {
		if len(mdat) < 8 {
			return
		}
		ss, err := parseFragment(moof, mdat, 8, trackDefaults{size: 3}, nil)
		if err != nil {
			return
		}
		payload := mdat[8:]
		for _, s := range ss {
			if len(s.Data) == 0 {
				continue
			}
			// s.Data is a capped window of the payload.
			if cap(s.Data) != len(s.Data) || len(s.Data) > len(payload) {
				t.Fatalf("sample of %d bytes (cap %d) from a %d-byte payload", len(s.Data), cap(s.Data), len(payload))
			}
		}
	})
}

// BenchmarkFragment compares parseFragment with mp4ff's general decoder
// (what the output reader used before) on ffmpeg's own fragments.
func BenchmarkFragment(b *testing.B) {
	testenv.NeedFFmpeg(b)
	file := filepath.Join(b.TempDir(), "rung.mp4")
	args := append([]string{"-y"}, testenv.Source{Duration: 4 * time.Second, AudioCodec: "none"}.Args("mp4", file)...)
	args = append(args[:len(args)-3], "-movflags", fragFlags, "-f", "mp4", file)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		b.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	type frag struct {
		moof, mdat []byte
		hdr        int
	}
	var frags []frag
	var moof []byte
	for r := bytes.NewReader(data); r.Len() > 0; {
		typ, box, hdr, err := readBox(r, nil)
		if err != nil {
			b.Fatal(err)
		}
		switch typ {
		case "moof":
			moof = box
		case "mdat":
			if moof != nil {
				frags = append(frags, frag{moof, box, hdr})
			}
		}
	}
	if len(frags) < 100 {
		b.Fatalf("%d fragments", len(frags))
	}
	b.Run("parser", func(b *testing.B) {
		var ss []sample
		for range b.N {
			for _, f := range frags {
				if ss, err = parseFragment(f.moof, f.mdat, f.hdr, trackDefaults{}, ss[:0]); err != nil || len(ss) != 1 {
					b.Fatal(err, len(ss))
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frags)), "ns/frame")
	})
	b.Run("mp4ff", func(b *testing.B) {
		trex := &mp4.TrexBox{TrackID: 1}
		for range b.N {
			for _, f := range frags {
				box, err := mp4.DecodeBoxSR(0, bits.NewFixedSliceReader(f.moof))
				if err != nil {
					b.Fatal(err)
				}
				mdat := &mp4.MdatBox{StartPos: uint64(len(f.moof)), Data: f.mdat[f.hdr:]}
				ss, err := (&mp4.Fragment{Moof: box.(*mp4.MoofBox), Mdat: mdat}).GetFullSamples(trex)
				if err != nil || len(ss) != 1 {
					b.Fatal(err, len(ss))
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frags)), "ns/frame")
	})
}
