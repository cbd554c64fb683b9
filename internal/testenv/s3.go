package testenv

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/internal/logbuf"
)

// VersityGW is the version of the S3 test server the test script installs.
const VersityGW = "v1.7.0"

// S3Server is a real S3-compatible server (versitygw, posix backend) on a
// loopback port, storing its buckets below a test directory.
type S3Server struct {
	t   testing.TB
	bin string
	// Endpoint is http://127.0.0.1:port; AccessKey and SecretKey are its root credentials.
	Endpoint, AccessKey, SecretKey string
	// Dir holds the buckets (one directory each).
	Dir  string
	addr string
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
}

// versitygwPath finds versitygw on PATH or in the Go bin directory, where
// `go install` puts it.
func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gb := os.Getenv("GOBIN"); gb != "" {
		dirs = append(dirs, gb)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, d := range dirs {
		if p := filepath.Join(d, "versitygw"); fileExists(p) {
			return p
		}
	}
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// StartS3 starts versitygw with a bucket directory of its own. It skips the
// test when versitygw is missing (fails in CI, where the test script installs
// it with `go install github.com/versity/versitygw/cmd/versitygw@v1.7.0`).
// The server is stopped when the test ends.
func StartS3(t testing.TB) *S3Server {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		skipOrFail(t, "versitygw not installed (go install github.com/versity/versitygw/cmd/versitygw@%s)", VersityGW)
	}
	s := &S3Server{t: t, bin: bin, AccessKey: "livecdntest", SecretKey: "livecdntestsecret", Dir: t.TempDir(),
		addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t))}
	s.Endpoint = "http://" + s.addr
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", tail(s.out.String(), 4000))
		}
	})
	return s
}

// Start (re)starts the server on its address and waits until it answers.
func (s *S3Server) Start() {
	s.t.Helper()
	// --nometa keeps object metadata out of extended attributes, which
	// tmpfs test directories may not support; the archive needs none.
	s.cmd = exec.Command(s.bin, "--port", s.addr, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet",
		"posix", "--nometa", s.Dir)
	if s.out == nil {
		s.out = &logbuf.Buffer{}
	}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.done = make(chan struct{})
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start versitygw: %v", err)
	}
	done := s.done
	cmd := s.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	Eventually(s.t, 20*time.Second, "versitygw answering at "+s.addr, func() bool {
		select {
		case <-done:
			s.t.Fatalf("versitygw exited early:\n%s", s.out.String())
		default:
		}
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			return false
		}
		c.Close()
		resp, err := http.Get(s.Endpoint + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true // any HTTP answer (403 without credentials) means it serves
	})
}

// Stop kills the server (an outage) and waits for it to exit.
func (s *S3Server) Stop() {
	if s.cmd == nil {
		return
	}
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

// MakeBucket creates a bucket: with the posix backend a bucket is a directory.
func (s *S3Server) MakeBucket(name string) {
	s.t.Helper()
	if err := os.MkdirAll(filepath.Join(s.Dir, name), 0o755); err != nil {
		s.t.Fatal(err)
	}
}

// Object returns the path of an object's file in the posix backend.
func (s *S3Server) Object(bucket, key string) string {
	return filepath.Join(s.Dir, bucket, filepath.FromSlash(key))
}
