package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/livecdn/livecdn/internal/testenv"
)

// deployDir is the absolute path of deploy/.
func deployDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	flagsMu    sync.Mutex
	flagsCache = map[string]map[string]bool{}
	// A flag line of Go's flag.PrintDefaults: "  -name type" or "  -name".
	flagLine = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
)

// knownFlags returns the flags `livecdn <sub> --help` lists.
func knownFlags(t *testing.T, sub string) map[string]bool {
	t.Helper()
	flagsMu.Lock()
	defer flagsMu.Unlock()
	if f, ok := flagsCache[sub]; ok {
		return f
	}
	out, err := exec.Command(testenv.Binary(t), sub, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("livecdn %s --help: %v\n%s", sub, err, out)
	}
	f := map[string]bool{}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		f[m[1]] = true
	}
	if len(f) < 3 {
		t.Fatalf("livecdn %s --help lists only %v", sub, f)
	}
	flagsCache[sub] = f
	return f
}

// checkArgs fails the test for every --flag in args that `livecdn sub` lacks.
// where names the file and place, for the message.
func checkArgs(t *testing.T, where, sub string, args []string) {
	t.Helper()
	known := knownFlags(t, sub)
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if !known[name] {
			t.Errorf("%s: livecdn %s has no flag --%s", where, sub, name)
		}
	}
}

// helmPath finds helm on PATH or where `go install` puts it.
func helmPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "helm")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testenv.SkipOrFail(t, "helm not installed")
	return ""
}
