package compare

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livecdn/livecdn/bench/sut"
)

// cache is one started cache server.
type cache struct {
	name string
	url  string // base URL
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
}

// rss sums the resident memory of the cache's process and its children
// (nginx workers, the varnishd child).
func (c *cache) rss() int64 {
	if c.cmd.Process == nil {
		return 0
	}
	pid := c.cmd.Process.Pid
	total := sut.RSSOf(pid)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// ppid is the 2nd field after the parenthesized command.
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 1 && f[1] == strconv.Itoa(pid) {
				total += sut.RSSOf(child)
			}
		}
	}
	return total
}

func (c *cache) stop() {
	if c.cmd.Process == nil {
		return
	}
	// Its own process group: nginx workers and the varnishd child go too.
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startCache(name string, args []string) (*cache, error) {
	c := &cache{name: name, cmd: exec.Command(args[0], args[1:]...), done: make(chan struct{}), log: &bytes.Buffer{}}
	c.cmd.Stdout, c.cmd.Stderr = c.log, c.log
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() { _ = c.cmd.Wait(); close(c.done) }()
	return c, nil
}

// waitUp polls path through the cache until it answers 200.
func (c *cache) waitUp(ctx context.Context, path string) error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("%s exited: %s", c.name, c.log.String())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s: %s", c.name, path, c.log.String())
}

// startLivecdn starts `livecdn edge` in front of upstream.
func startLivecdn(bin, upstream string, cacheMiB int) (*cache, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c, err := startCache("livecdn", []string{bin, "edge", "--http", fmt.Sprintf("127.0.0.1:%d", port), "--origin", "http://" + upstream,
		"--cache-size", fmt.Sprintf("%dMiB", cacheMiB), "--log-level", "warn", "--node-name", "compare"})
	if c != nil {
		c.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return c, err
}

// startNginx fills deploy/compare/nginx.conf the way run.sh does and starts
// nginx in the foreground from a temp dir.
func startNginx(dir, confTemplate, upstream, nolockUpstream string) (*cache, error) {
	tpl, err := os.ReadFile(confTemplate)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	nolock, err := freePort()
	if err != nil {
		return nil, err
	}
	ndir := filepath.Join(dir, "nginx")
	cdir := filepath.Join(dir, "nginx-cache")
	for _, d := range []string{ndir, cdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	user := ""
	if os.Getuid() == 0 {
		user = "user root root;"
	}
	conf := strings.NewReplacer("@DIR@", ndir, "@CACHE@", cdir, "@USER@", user, "@PORT@", strconv.Itoa(port),
		"@NOLOCK_PORT@", strconv.Itoa(nolock), "@NOPUSH@", "off", "@WORKERS@", strconv.Itoa(runtime.NumCPU()), "@UPSTREAM@", upstream, "@NOLOCK_UPSTREAM@", nolockUpstream).Replace(string(tpl))
	cf := filepath.Join(ndir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	c, err := startCache("nginx", []string{lookTool("nginx"), "-p", ndir, "-c", cf, "-e", filepath.Join(ndir, "nginx-error.log")})
	if c != nil {
		c.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return c, err
}

// startVarnish fills deploy/compare/varnish.vcl and starts varnishd with
// run.sh's parameters.
func startVarnish(dir, vclTemplate, upstream string, cacheMiB int) (*cache, error) {
	tpl, err := os.ReadFile(vclTemplate)
	if err != nil {
		return nil, err
	}
	_, uport, _ := net.SplitHostPort(upstream)
	vcl := filepath.Join(dir, "varnish.vcl")
	if err := os.WriteFile(vcl, bytes.ReplaceAll(tpl, []byte("@UPSTREAM_PORT@"), []byte(uport)), 0o644); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c, err := startCache("varnish", []string{lookTool("varnishd"), "-F", "-j", "none", "-n", filepath.Join(dir, "varnish"),
		"-a", fmt.Sprintf("127.0.0.1:%d", port), "-f", vcl, "-s", fmt.Sprintf("malloc,%dm", cacheMiB),
		"-p", "thread_pools=2", "-p", "thread_pool_min=600", "-p", "thread_pool_max=5000", "-p", "listen_depth=4096"})
	if c != nil {
		c.url = fmt.Sprintf("http://127.0.0.1:%d", port)
	}
	return c, err
}

func lookTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}

// EnsureTools installs nginx and varnish from Debian when missing, as
// deploy/compare/run.sh does (non-interactive; sudo -n when not root).
func EnsureTools(ctx context.Context) error {
	var need []string
	for tool, pkg := range map[string]string{"nginx": "nginx", "varnishd": "varnish"} {
		if _, err := os.Stat(lookTool(tool)); err != nil {
			need = append(need, pkg)
		}
	}
	if len(need) == 0 {
		return nil
	}
	sudo := []string{}
	if os.Getuid() != 0 {
		sudo = []string{"sudo", "-n"}
	}
	for _, args := range [][]string{
		append(append([]string{}, sudo...), "apt-get", "update", "-qq"),
		append(append(append([]string{}, sudo...), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq"), need...),
	} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("installing %v: %v\n%s", need, err, out)
		}
	}
	return nil
}
