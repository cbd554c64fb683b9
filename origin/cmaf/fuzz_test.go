package cmaf

import (
	"encoding/binary"
	"testing"

	"github.com/livecdn/livecdn/ingest"
)

// FuzzPackager feeds arbitrary unit sequences (any timestamps, gaps, resets,
// keyframe patterns, track interleaving): the packager must not panic, and
// every track's parts must form one gap-free timeline of rising numbers.
func FuzzPackager(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 0, 1, 1, 5, 0, 0, 0, 0, 10, 0, 1})
	f.Add([]byte{0, 1, 255, 255, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		type pos struct {
			msn   int64
			index int
			end   int64
		}
		var last [2]*pos
		p, err := NewPackager(DefaultConfig(), testTracks(), 7, func(pt *Part) {
			l := last[pt.Track]
			if l != nil {
				if pt.Start != l.end {
					t.Fatalf("track %d: part starts at %d, previous ended at %d", pt.Track, pt.Start, l.end)
				}
				if pt.MSN < l.msn || (pt.MSN == l.msn && pt.Index != l.index+1) {
					t.Fatalf("track %d: part %d.%d after %d.%d", pt.Track, pt.MSN, pt.Index, l.msn, l.index)
				}
			}
			if pt.Duration <= 0 || len(pt.Data) == 0 {
				t.Fatalf("empty part %+v", pt)
			}
			last[pt.Track] = &pos{pt.MSN, pt.Index, pt.Start + pt.Duration}
			if pt.Last {
				last[pt.Track].index = -1
				last[pt.Track].msn++
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		var dts [2]int64
		for len(data) >= 5 {
			tr := int(data[0] & 1)
			key := data[0]&2 != 0
			delta := int64(int32(binary.BigEndian.Uint32(data[1:5])))
			data = data[5:]
			dts[tr] += delta
			_ = p.Write(&ingest.Unit{Track: tr, DTS: dts[tr], PTS: dts[tr], Key: key || tr == 1, Data: [][]byte{{0x41, 0}}})
		}
		p.Flush()
	})
}
