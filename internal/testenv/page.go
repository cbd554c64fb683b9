package testenv

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PageResult is what OpenPage saw.
type PageResult struct {
	// Console holds every console message as "type: text".
	Console []string `json:"console"`
	// Errors lists console errors, page exceptions and failed requests.
	Errors []string `json:"errors"`
	// Blocked lists requests that would have left the machine (aborted).
	Blocked []string `json:"blocked"`
	// Eval is the JSON value of the expression given to OpenPage.
	Eval json.RawMessage `json:"eval"`
}

// OpenPage opens target (a file path or a loopback URL) in headless
// Chromium, waits for it to load, evaluates eval (a JavaScript expression,
// may be empty) and returns the console output and errors. Nothing leaves
// loopback. It fails the test only when the harness itself breaks.
func OpenPage(t testing.TB, target, eval string) PageResult {
	t.Helper()
	NeedBrowser(t)
	if !strings.Contains(target, "://") {
		abs, err := filepath.Abs(target)
		if err != nil {
			t.Fatal(err)
		}
		target = "file://" + abs
	}
	release := acquireBrowserSlot(t)
	defer release()
	in, _ := json.Marshal(map[string]any{"url": target, "eval": eval, "executablePath": chromiumPath(), "timeoutMs": 20000})
	stdout, stderr, err := runNode("open.mjs", in, 60*time.Second)
	if err != nil {
		t.Fatalf("open.mjs: %v\nstderr:\n%s", err, stderr.String())
	}
	var r PageResult
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("open.mjs output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	return r
}
