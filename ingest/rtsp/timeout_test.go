package rtsp

import (
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/internal/testenv"
)

// TestStalledPublishers checks that a client which claims a name and then
// stops talking cannot hold the name: each stage has its own timeout.
func TestStalledPublishers(t *testing.T) {
	cases := []struct {
		name   string
		cfg    Config
		record bool
	}{
		// ANNOUNCE accepted, then nothing: StartTimeout.
		{"no RECORD", Config{StartTimeout: 500 * time.Millisecond}, false},
		// RECORD over TCP, then no media: ReadTimeout.
		{"no media", Config{ReadTimeout: time.Second}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, ingest.HubConfig{}, tc.cfg)
			c := dialRTSP(t, e.srv.Addr().String())
			url := e.url("live/stall")
			if st, _ := c.do("ANNOUNCE", url, testSDP, "Content-Type: application/sdp"); !strings.HasPrefix(st, "RTSP/1.0 200") {
				t.Fatalf("ANNOUNCE: %q", st)
			}
			if tc.record {
				st, h := c.do("SETUP", url+"/trackID=0", "", "Transport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record")
				if !strings.HasPrefix(st, "RTSP/1.0 200") {
					t.Fatalf("SETUP: %q", st)
				}
				session, _, _ := strings.Cut(h["session"], ";")
				if st, _ := c.do("RECORD", url, "", "Session: "+session); !strings.HasPrefix(st, "RTSP/1.0 200") {
					t.Fatalf("RECORD: %q", st)
				}
			}
			if !e.hub.Live("stall") {
				t.Fatal("name not claimed after ANNOUNCE")
			}
			start := time.Now()
			testenv.Eventually(t, 5*time.Second, "name released", func() bool { return !e.hub.Live("stall") })
			if err := waitClosed(c.c, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			t.Logf("released after %v", time.Since(start).Round(10*time.Millisecond))
		})
	}
}
