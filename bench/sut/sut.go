// Package sut starts the system under test of a benchmark as real
// processes: `livecdn origin` publishing the built-in looping clip, and N
// `livecdn edge` nodes in front of it. It can kill an edge (a crash), pause
// and resume the origin (an outage the edges see as a silent upstream) and
// read each process' resident memory.
package sut

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/livecdn/livecdn/internal/logbuf"
)

// Config is what to start.
type Config struct {
	// Binary is the livecdn executable. Required.
	Binary string
	// Stream is the name the origin's built-in source publishes (default "bench").
	Stream string
	// Edges is how many edge processes to start (default 1).
	Edges int
	// OriginOnly starts no edge at all (Edges is ignored).
	OriginOnly bool
	// Cluster makes the edges one gossip cluster (--join, --gossip):
	// misses go to each key's owner edge. Shields adds that many
	// --role shield nodes to it (implies Cluster); owners fetch through them.
	Cluster bool
	Shields int
	// Part and Segment are the origin's packaging targets (defaults 200ms, 2s).
	Part, Segment time.Duration
	// CacheSize is each edge's --cache-size (default 256MiB).
	CacheSize string
	// EdgeArgs and OriginArgs are appended to the commands (e.g. cluster flags).
	EdgeArgs, OriginArgs []string
	// Host is the loopback address to listen on (default 127.0.0.1).
	Host string
	// Ready bounds the wait for processes and the first playlist (default 30 s).
	Ready time.Duration
}

// System is a started origin and its edges.
type System struct {
	Origin  *Proc
	Edges   []*Proc
	Shields []*Proc
	stream  string
}

// Proc is one started livecdn process.
type Proc struct {
	Name string
	// URL is the base URL of its HTTP listener.
	URL  string
	cmd  *exec.Cmd
	out  *logbuf.Buffer
	done chan struct{}
	err  error
}

// Start starts the origin and the edges and waits until every edge serves
// the stream's multivariant playlist. The processes inherit this one's
// descriptor limit: call RaiseFileLimit first for a large run.
func Start(ctx context.Context, cfg Config) (*System, error) {
	if cfg.Binary == "" {
		return nil, errors.New("sut: Binary is required")
	}
	if cfg.Stream == "" {
		cfg.Stream = "bench"
	}
	cfg.Edges = max(cfg.Edges, 1)
	if cfg.OriginOnly {
		cfg.Edges = 0
	}
	if cfg.Part == 0 {
		cfg.Part = 200 * time.Millisecond
	}
	if cfg.Segment == 0 {
		cfg.Segment = 2 * time.Second
	}
	if cfg.CacheSize == "" {
		cfg.CacheSize = "256MiB"
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Ready == 0 {
		cfg.Ready = 30 * time.Second
	}
	s := &System{stream: cfg.Stream}
	oaddr, err := freeAddr(cfg.Host)
	if err != nil {
		return nil, err
	}
	args := append([]string{"origin", "--http", oaddr, "--rtmp", "", "--rtsp", "", "--srt", "", "--archive", "",
		"--part", cfg.Part.String(), "--segment", cfg.Segment.String(), "--source", "loop:" + cfg.Stream,
		"--log-level", "warn"}, cfg.OriginArgs...)
	if s.Origin, err = start(cfg.Binary, "origin", oaddr, args); err != nil {
		return nil, err
	}
	cluster := cfg.Cluster || cfg.Shields > 0
	seed := "" // gossip address every node joins (the first node joins itself)
	total := cfg.Edges + cfg.Shields
	for i := range total {
		addr, err := freeAddr(cfg.Host)
		if err != nil {
			s.Close()
			return nil, err
		}
		role, name := "edge", fmt.Sprintf("edge%d", i-cfg.Shields+1)
		if i < cfg.Shields {
			role, name = "shield", fmt.Sprintf("shield%d", i+1)
		}
		args := []string{"edge", "--http", addr, "--origin", s.Origin.URL, "--cache-size", cfg.CacheSize,
			"--node-name", name, "--log-level", "warn"}
		if cluster {
			gossip, err := freeAddr(cfg.Host)
			if err != nil {
				s.Close()
				return nil, err
			}
			if seed == "" {
				seed = gossip
			}
			args = append(args, "--gossip", gossip, "--join", seed, "--role", role)
		}
		p, err := start(cfg.Binary, name, addr, append(args, cfg.EdgeArgs...))
		if err != nil {
			s.Close()
			return nil, err
		}
		if role == "shield" {
			s.Shields = append(s.Shields, p)
		} else {
			s.Edges = append(s.Edges, p)
		}
		if i == 0 && cluster && total > 1 {
			// The others join through it: its gossip must listen first.
			rctx, cancel := context.WithTimeout(ctx, cfg.Ready)
			err := p.waitOK(rctx, "/healthz")
			cancel()
			if err != nil {
				s.Close()
				return nil, err
			}
		}
	}
	rctx, cancel := context.WithTimeout(ctx, cfg.Ready)
	defer cancel()
	for _, p := range append(append([]*Proc{s.Origin}, s.Shields...), s.Edges...) {
		if err := p.waitOK(rctx, "/live/"+cfg.Stream+"/index.m3u8"); err != nil {
			s.Close()
			return nil, err
		}
	}
	// A stream that just started lists a few parts and no segment yet:
	// viewers joining then would measure the stream's start, not the system.
	if err := s.Origin.waitSegment(rctx, "/live/"+cfg.Stream+"/index.m3u8"); err != nil {
		s.Close()
		return nil, err
	}
	if cluster && len(s.Edges) > 0 {
		if err := s.waitCluster(rctx, total); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// waitCluster polls the last edge's /cluster until it lists every node.
func (s *System) waitCluster(ctx context.Context, n int) error {
	p := s.Edges[len(s.Edges)-1]
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/cluster", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			var st struct {
				Members []json.RawMessage `json:"members"`
			}
			err := json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && len(st.Members) >= n {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sut: cluster of %d nodes did not form: %w", n, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// StreamURL is the multivariant playlist (or, for dash, the MPD) of the
// stream at base.
func (s *System) StreamURL(base string, dash bool) string {
	if dash {
		return base + "/live/" + s.stream + "/manifest.mpd"
	}
	return base + "/live/" + s.stream + "/index.m3u8"
}

// Close kills every process.
func (s *System) Close() {
	for _, p := range append(s.Edges, s.Shields...) {
		p.Kill()
	}
	if s.Origin != nil {
		p := s.Origin
		_ = p.Resume()
		p.Kill()
	}
}

func freeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("sut: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func start(bin, name, addr string, args []string) (*Proc, error) {
	cmd := exec.Command(bin, args...)
	p := &Proc{Name: name, URL: "http://" + addr, cmd: cmd, out: &logbuf.Buffer{Max: 1 << 20}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// Its own process group: a Ctrl-C of the bench reaches the bench, which
	// then stops these itself.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sut: start %s: %w", name, err)
	}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *Proc) waitOK(ctx context.Context, path string) error {
	for {
		select {
		case <-p.done:
			return fmt.Errorf("sut: %s exited: %v\n%s", p.Name, p.err, p.Output())
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+path, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sut: %s not serving %s: %w\n%s", p.Name, path, ctx.Err(), p.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitSegment waits until the first media playlist named by the
// multivariant playlist at path lists a complete segment.
func (p *Proc) waitSegment(ctx context.Context, path string) error {
	for {
		if b, err := get(ctx, p.URL+path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					dir := path[:strings.LastIndexByte(path, '/')+1]
					if m, err := get(ctx, p.URL+dir+line); err == nil && bytes.Contains(m, []byte("#EXTINF")) {
						return nil
					}
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sut: no complete segment at %s: %w", p.URL+path, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, u string) ([]byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
}

// Kill ends the process with SIGKILL (a crash) and waits for it.
func (p *Proc) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Pause stops the process (SIGSTOP): its sockets stay open and silent, the
// hardest kind of upstream failure for a cache.
func (p *Proc) Pause() error { return p.cmd.Process.Signal(syscall.SIGSTOP) }

// Resume continues a paused process.
func (p *Proc) Resume() error { return p.cmd.Process.Signal(syscall.SIGCONT) }

// RSS is the resident memory in bytes (0 once the process ended).
func (p *Proc) RSS() int64 {
	if !p.Alive() {
		return 0
	}
	return RSSOf(p.cmd.Process.Pid)
}

// RSSOf reads a process' VmRSS from /proc.
func RSSOf(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// Output is what the process logged.
func (p *Proc) Output() string { return p.out.String() }
