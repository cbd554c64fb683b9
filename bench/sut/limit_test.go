package sut

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/livecdn/livecdn/internal/testenv"
)

// RaiseFileLimit lifts the limit (to FileLimit when the process may raise
// the hard limit), and a process Start runs has the same limit.
func TestRaiseFileLimit(t *testing.T) {
	var before syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &before); err != nil {
		t.Fatal(err)
	}
	got := RaiseFileLimit()
	var after syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &after); err != nil {
		t.Fatal(err)
	}
	t.Logf("descriptor limit %d/%d -> %d/%d (returned %d)", before.Cur, before.Max, after.Cur, after.Max, got)
	if got != after.Cur || after.Cur < before.Cur || after.Cur != after.Max {
		t.Fatalf("limit %d/%d after, returned %d", after.Cur, after.Max, got)
	}
	if os.Geteuid() == 0 && after.Cur < min(FileLimit, before.Max) {
		t.Errorf("as root: soft limit %d, want at least %d", after.Cur, min(FileLimit, before.Max))
	}
	sys, err := Start(t.Context(), Config{Binary: testenv.Binary(t), Stream: "s", OriginOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(sys.Origin.cmd.Process.Pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "Max open files"); ok {
			fs := strings.Fields(f)
			if len(fs) < 2 || fs[0] != strconv.FormatUint(after.Cur, 10) {
				t.Errorf("origin: %q, want soft limit %d", line, after.Cur)
			}
			return
		}
	}
	t.Errorf("no open files limit in\n%s", b)
}
