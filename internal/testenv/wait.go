package testenv

import (
	"os"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where missing tools fail instead of skipping.
func InCI() bool { return os.Getenv("CI") != "" && os.Getenv("CI") != "false" }

// Eventually polls cond every 20 ms until it returns true or timeout passes, then fails
// the test with msg. It is the readiness check tests use instead of fixed sleeps.
func Eventually(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
