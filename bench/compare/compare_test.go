package compare_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/bench/compare"
	"github.com/livecdn/livecdn/internal/testenv"
)

// A short comparison of all three caches: every workload gives a row per
// cache without errors, cached media leaves the origin once per cache, and
// the flash crowd makes one origin request per cache (all three coalesce).
func TestCompareSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nginx and varnishd")
	}
	for _, tool := range []string{"nginx", "varnishd"} {
		if _, err := exec.LookPath(tool); err != nil {
			if _, err := os.Stat("/usr/sbin/" + tool); err != nil {
				if testenv.InCI() {
					t.Fatalf("%s missing (scripts/test.sh installs it)", tool)
				}
				t.Skipf("%s not installed", tool)
			}
		}
	}
	dir, _ := filepath.Abs("../../deploy/compare")
	var log bytes.Buffer
	res, err := compare.Run(context.Background(), compare.Config{
		Binary: testenv.Binary(t), Dir: dir, Conns: 20, Duration: time.Second, FlashN: 50,
		Viewers: 10, ViewerDuration: 5 * time.Second, CacheMiB: 64, Log: &log,
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	var out bytes.Buffer
	res.Print(&out)
	t.Log(out.String())
	if len(res.Rows) != 15 {
		t.Fatalf("%d rows, want 5 workloads x 3 caches", len(res.Rows))
	}
	for _, r := range res.Rows {
		if r.Errors != 0 || r.ReqPerSec <= 0 || r.RSS <= 0 {
			t.Errorf("%s/%s: %+v", r.Workload, r.Cache, r)
		}
		switch r.Workload {
		case "segment", "part", "flash":
			if r.OriginFetches != 1 {
				t.Errorf("%s/%s: %d origin fetches, want 1", r.Workload, r.Cache, r.OriginFetches)
			}
		}
	}
	if !strings.Contains(out.String(), "ratio to livecdn") {
		t.Error("no ratio table")
	}
}
