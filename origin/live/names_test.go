package live

import "testing"

func TestParseObject(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
		want Object
	}{
		{"index.m3u8", true, Object{Kind: KindPlaylist}},
		{"init3.mp4", true, Object{Kind: KindInit, Session: 3}},
		{"seg120.m4s", true, Object{Kind: KindSegment, MSN: 120}},
		{"part120.4.m4s", true, Object{Kind: KindPart, MSN: 120, Part: 4}},
		{"seg0.m4s", true, Object{Kind: KindSegment}},
		{"seg01.m4s", false, Object{}},
		{"seg-1.m4s", false, Object{}},
		{"seg+1.m4s", false, Object{}},
		{"part1.m4s", false, Object{}},
		{"part1..m4s", false, Object{}},
		{"seg99999999999999999999.m4s", false, Object{}},
		{"../seg1.m4s", false, Object{}},
		{"seg.m4s", false, Object{}},
		{"index.m3u8x", false, Object{}},
	} {
		got, ok := ParseObject(tc.name)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseObject(%q) = %+v, %v; want %+v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseObject(f *testing.F) {
	for _, s := range []string{"index.m3u8", "init1.mp4", "seg5.m4s", "part5.2.m4s", "part.m4s", "seg\x00.m4s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		o, ok := ParseObject(name)
		if !ok {
			return
		}
		var back string
		switch o.Kind {
		case KindPlaylist:
			back = "index.m3u8"
		case KindInit:
			back = InitName(o.Session)
		case KindSegment:
			back = SegmentName(o.MSN)
		case KindPart:
			back = PartName(o.MSN, o.Part)
		}
		if back != name {
			t.Fatalf("%q parsed to %+v which names %q", name, o, back)
		}
	})
}
