package cmaf

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/livecdn/livecdn/ingest"
)

// TrackID is the track_ID every rendition uses: each rendition has its own
// init section holding a single track, as CMAF requires.
const TrackID = 1

// Init returns the CMAF init section (ftyp+moov) of a single-track rendition.
func Init(t *ingest.Track) ([]byte, error) {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{
		ID:        TrackID,
		TimeScale: uint32(t.ClockRate),
		Codec:     t.Codec,
	}}}
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		return nil, fmt.Errorf("init section: %w", err)
	}
	return buf.Bytes(), nil
}
