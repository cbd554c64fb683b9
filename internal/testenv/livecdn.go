package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/logbuf"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds cmd/livecdn once per test process (with -race when the tests
// run with it) and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "livecdn-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "livecdn")
		args := []string{"build", "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/livecdn")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// Process is a running livecdn subcommand.
type Process struct {
	t    testing.TB
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error
	// HTTP is the base URL of its HTTP listener, e.g. http://127.0.0.1:41234.
	HTTP string
}

// Start runs `livecdn <args…>`, whose --http must be httpAddr (host:port), and
// waits until /readyz answers 200. The process is killed when the test ends.
func Start(t testing.TB, httpAddr string, args ...string) *Process {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	p := &Process{t: t, cmd: cmd, out: &logbuf.Buffer{}, done: make(chan struct{}), HTTP: "http://" + httpAddr}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.Env = append(os.Environ(), "LIVECDN_LOG_LEVEL=debug")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start livecdn: %v", err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("livecdn %s output:\n%s", strings.Join(args, " "), tail(p.out.String(), 8000))
		}
	})
	Eventually(t, 20*time.Second, "livecdn ready at "+p.HTTP, func() bool {
		select {
		case <-p.done:
			t.Fatalf("livecdn exited early: %v\n%s", p.err, p.out.String())
		default:
		}
		resp, err := http.Get(p.HTTP + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

// Output returns what the process logged so far.
func (p *Process) Output() string { return p.out.String() }

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop sends SIGTERM and waits up to timeout for a clean exit, returning its error.
func (p *Process) Stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("livecdn did not exit within %v of SIGTERM", timeout)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
