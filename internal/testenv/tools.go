package testenv

import (
	"os/exec"
	"testing"
)

// SkipOrFail skips the test outside CI and fails it in CI, where a missing
// tool is a broken setup. The message should name what is missing.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	skipOrFail(t, format, args...)
}

// NeedCommand returns the path of the named program, skipping the test
// (failing it in CI) when it is not installed.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOrFail(t, "%s not installed", name)
	}
	return p
}
