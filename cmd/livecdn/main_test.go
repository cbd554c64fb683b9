package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/testenv"
)

func TestBadFlagsExit2WithOneLine(t *testing.T) {
	bin := testenv.Binary(t)
	for _, args := range [][]string{
		{"origin", "--bogus"},
		{"origin", "--part", "soon"},
		{"origin", "--part", "5s"},
		{"origin", "--window", "1"},
		{"origin", "--log-format", "xml"},
		{"origin", "--ladder", "nope"},
		{"origin", "extra-arg"},
		{"demo", "--edges-typo", "3"},
		{"nosuchcommand"},
	} {
		cmd := exec.Command(bin, args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%v: exit %v, want 2", args, err)
		}
		if lines := strings.Count(strings.TrimSpace(stderr.String()), "\n") + 1; lines != 1 {
			t.Errorf("%v: %d lines of error:\n%s", args, lines, stderr.String())
		}
	}
}

func TestHelpListsEveryFlag(t *testing.T) {
	bin := testenv.Binary(t)
	out, err := exec.Command(bin, "origin", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v", err)
	}
	for _, want := range []string{"-http", `(default ":8080")`, "-rtmp", `(default ":1935")`, "-rtsp", `(default ":8554")`,
		"-srt", `(default ":8890")`, "-archive", "-keys-file", "-ladder", "-part", "(default 200ms)", "-segment", "(default 2s)",
		"-window", "(default 10)", "-takeover", "-webhook", "-log-format", "-config", "LIVECDN_"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("origin --help lacks %q", want)
		}
	}
}

// Settings come from the YAML file, then LIVECDN_ variables, then flags.
func TestConfigLayers(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(t.TempDir(), "origin.yaml")
	os.WriteFile(cfg, []byte("http: 127.0.0.1:1\nrtmp: \"\"\nrtsp: \"\"\nsrt: \"\"\nwindow: 4\nlog-format: json\n"), 0o644)
	t.Setenv("LIVECDN_WINDOW", "6")
	p := testenv.Start(t, addr, "origin", "--config", cfg, "--http", addr, "--archive", t.TempDir())
	var line map[string]any
	first, _, _ := strings.Cut(p.Output(), "\n")
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("--log-format json from the config file not applied: %q", first)
	}
	var listening map[string]any
	for _, l := range strings.Split(p.Output(), "\n") {
		if strings.Contains(l, "origin listening") {
			json.Unmarshal([]byte(l), &listening)
		}
	}
	if listening["window"] != float64(6) || listening["http"] != addr || listening["rtmp"] != "" {
		t.Errorf("want window 6 (env over file), http from the flag, rtmp off (file); got %v", listening)
	}
}

// `livecdn demo` needs nothing but the binary: origin, built-in source and
// three gossiping edges in one process; it prints a watch URL per edge, and
// the page through an edge plays with hls.js showing latency and rendition.
func TestDemo(t *testing.T) {
	testenv.NeedBrowser(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p := testenv.Start(t, addr, "demo", "--http", addr, "--edge-http", "127.0.0.1:0", "--gossip", "127.0.0.1:0")
	re := regexp.MustCompile(`watch: (http://\S+/)\s+\(edge-\d\)`)
	var watches []string
	testenv.Eventually(t, 5*time.Second, "three watch URLs printed", func() bool {
		watches = nil
		for _, m := range re.FindAllStringSubmatch(p.Output(), -1) {
			watches = append(watches, m[1])
		}
		return len(watches) == 3
	})
	for _, w := range watches {
		testenv.Eventually(t, 5*time.Second, "a three-edge cluster at "+w, func() bool {
			code, body := testenv.Get(t, w+"cluster")
			return code == 200 && strings.Count(string(body), `"state": "active"`) == 3
		})
	}
	watch := watches[1]
	res := testenv.Play(t, testenv.PlayOptions{PageURL: watch, Duration: 6 * time.Second,
		Eval: `document.body.innerText`})
	t.Logf("demo page: %s", res.Summary())
	if res.Played < 6 || len(res.FatalErrors()) > 0 || res.Player != "hls" {
		t.Fatalf("demo page did not play with hls.js: played %.1fs, player %q, errors %v", res.Played, res.Player, res.Errors)
	}
	var text string
	json.Unmarshal(res.Eval, &text)
	if !strings.Contains(text, "270p") || !strings.Contains(text, " s") {
		t.Errorf("page does not show rendition and latency:\n%s", text)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("demo after SIGTERM: %v", err)
	}
}
