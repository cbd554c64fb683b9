package transcode_test

import (
	"fmt"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/origin"
	"github.com/livecdn/livecdn/transcode"
)

// Example wires a transcoder between ingest and the origin, the way
// `livecdn origin --ladder default` does.
func Example() {
	ladder, err := transcode.LoadLadder("default") // or "passthrough", or a YAML file
	if err != nil {
		fmt.Println(err) // a one-line reason: the command exits 2 with it
		return
	}
	o := origin.New(origin.DefaultConfig())
	tc := transcode.New(transcode.Config{Ladder: ladder, SegmentTarget: 2 * time.Second}, o)
	hub := ingest.NewHub(ingest.HubConfig{Handler: tc})
	// … protocol servers publish into hub …

	// Shutdown: end the publishers first (their ffmpegs finish gracefully),
	// then kill whatever ffmpeg is left, then stop the origin.
	hub.Close()
	tc.Close()
	o.Close()
}
