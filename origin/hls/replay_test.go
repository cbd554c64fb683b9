package hls

import (
	"strings"
	"testing"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

func TestReplayVODAcrossSessions(t *testing.T) {
	s := snap(seg(4, 1, false, 10, true), seg(5, 1, false, 10, true), seg(6, 2, true, 10, true))
	s.Active = false
	b, err := Replay(s, ReplayOptions{Ended: true}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	m := parse(t, b)
	if !m.Endlist || m.PlaylistType == nil || *m.PlaylistType != playlist.MediaPlaylistTypeVOD || m.Start != nil {
		t.Errorf("closed replay is not a plain VOD playlist:\n%s", text)
	}
	// (gohlslib keeps the last EXT-X-MAP it reads, so check the first in the text.)
	if m.MediaSequence != 4 || len(m.Segments) != 3 || !strings.Contains(text, "#EXT-X-MAP:URI=\"init1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME") ||
		m.ServerControl != nil || m.PartInf != nil {
		t.Errorf("replay playlist:\n%s", text)
	}
	if !strings.Contains(text, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init2.mp4\"\n#EXT-X-PROGRAM-DATE-TIME") ||
		strings.Count(text, "#EXT-X-DISCONTINUITY\n") != 1 || strings.Contains(text, "#EXT-X-PART") {
		t.Errorf("session change not marked:\n%s", text)
	}
}

func TestReplayEventStartOver(t *testing.T) {
	b, err := Replay(snap(seg(0, 1, false, 10, true), seg(1, 1, false, 10, true)),
		ReplayOptions{Event: true, StartAtBeginning: true}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := parse(t, b)
	if m.Endlist || *m.PlaylistType != playlist.MediaPlaylistTypeEvent || m.Start == nil || m.Start.TimeOffset.Seconds() > 0.001 {
		t.Errorf("start-over playlist:\n%s", b)
	}
	if _, err := Replay(snap(), ReplayOptions{}, cfg); err == nil {
		t.Error("an empty range gave a playlist")
	}
}
