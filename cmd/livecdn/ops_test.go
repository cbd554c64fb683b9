package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/livecdn/livecdn/internal/testenv"
)

// runBin runs the livecdn binary and returns stdout, stderr and the exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testenv.Binary(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestOpsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"status"},
		{"status", "--edge", "http://x", "extra"},
		{"status", "--edge", "http://x", "--timeout", "0s"},
		{"drain"},
		{"drain", "http://a", "http://b"},
		{"drain", "--wait", "-1s", "http://a"},
		{"probe"},
	} {
		_, stderr, code := runBin(t, args...)
		if code != 2 || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, code, stderr)
		}
	}
}

// status, probe and drain against a real stand-alone edge (no /cluster).
func TestStatusProbeStandaloneEdge(t *testing.T) {
	originAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	origin := testenv.Start(t, originAddr, "origin", "--http", originAddr, "--rtmp", "", "--rtsp", "", "--srt", "", "--archive", t.TempDir())
	edgeAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	edge := testenv.Start(t, edgeAddr, "edge", "--http", edgeAddr, "--origin", origin.HTTP, "--cache-size", "16MiB")
	testenv.Get(t, edge.HTTP+"/live/nothing/index.m3u8")

	out, stderr, code := runBin(t, "status", "--edge", edge.HTTP)
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, stderr)
	}
	for _, want := range []string{"no /cluster endpoint: 1 stand-alone node(s)", edgeAddr, "standalone", "TOTAL"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	out, _, code = runBin(t, "status", "--json", "--edge", edge.HTTP)
	if code != 0 || !strings.Contains(out, `"standalone": true`) || !strings.Contains(out, `"hit_ratio": `) {
		t.Errorf("status --json: exit %d\n%s", code, out)
	}
	if _, _, code := runBin(t, "probe", edge.HTTP+"/healthz"); code != 0 {
		t.Errorf("probe /healthz: exit %d", code)
	}
	if _, _, code := runBin(t, "probe", origin.HTTP+"/readyz"); code != 0 {
		t.Errorf("probe origin /readyz: exit %d", code)
	}
	if _, stderr, code := runBin(t, "probe", edge.HTTP+"/no-such-path"); code != 1 || !strings.Contains(stderr, "404") {
		t.Errorf("probe of a 404: exit %d, %q", code, stderr)
	}
	// An origin is no edge: status says why it cannot list a cluster.
	if _, stderr, code := runBin(t, "status", "--edge", "http://127.0.0.1:1"); code != 1 || stderr == "" {
		t.Errorf("status of a closed port: exit %d, %q", code, stderr)
	}
}
