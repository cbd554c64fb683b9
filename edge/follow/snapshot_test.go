package follow

import (
	"testing"
	"time"
)

func TestParseSnapshot(t *testing.T) {
	const head = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n" +
		"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.6\n#EXT-X-PART-INF:PART-TARGET=0.2\n" +
		"#EXT-X-MEDIA-SEQUENCE:10\n"
	const seg10 = "#EXT-X-PART:DURATION=0.2,URI=\"p10.0\"\n#EXT-X-PART:DURATION=0.2,URI=\"p10.1\"\n#EXTINF:0.4,\ns10\n"
	for _, c := range []struct {
		name     string
		body     string
		msn      int64
		part     int
		complete bool
		nextMSN  int64
		nextPart int
	}{
		{"trailing parts", head + seg10 + "#EXT-X-PART:DURATION=0.2,URI=\"p11.0\"\n#EXT-X-PART:DURATION=0.2,URI=\"p11.1\"\n" +
			"#EXT-X-PART:DURATION=0.2,URI=\"p11.2\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p11.3\"\n", 11, 2, false, 11, 3},
		{"ends with a complete segment", head + seg10 + "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"p11.0\"\n", 10, 1, true, 11, 0},
		{"delta update", head + "#EXT-X-SKIP:SKIPPED-SEGMENTS=3\n" + seg10, 13, 1, true, 14, 0},
		{"no parts", "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:4,\na\n#EXTINF:4,\nb\n", 8, -1, true, 9, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := parseSnapshot([]byte(c.body), nil, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if s.MSN != c.msn || s.Part != c.part || s.Complete != c.complete {
				t.Errorf("position %d.%d complete=%v, want %d.%d complete=%v", s.MSN, s.Part, s.Complete, c.msn, c.part, c.complete)
			}
			if m, p := s.Next(); m != c.nextMSN || p != c.nextPart {
				t.Errorf("Next() = %d.%d, want %d.%d", m, p, c.nextMSN, c.nextPart)
			}
			if !s.Has(c.msn, c.part) || s.Has(c.nextMSN, c.nextPart) || !s.Has(c.msn-1, 99) {
				t.Error("Has disagrees with the position")
			}
			if s.tooFar(c.msn+2) || !s.tooFar(c.msn+3) {
				t.Error("tooFar")
			}
		})
	}
	if _, err := parseSnapshot([]byte("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv0.m3u8\n"), nil, time.Now()); err == nil {
		t.Error("a multivariant playlist parsed as media")
	}
}
