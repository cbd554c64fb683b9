package rtsp

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/livecdn/livecdn/ingest"
	"github.com/livecdn/livecdn/ingest/ingesttest"
)

type env struct {
	srv  *Server
	hub  *ingest.Hub
	rec  *ingesttest.Recorder
	logs *ingesttest.Logs
}

// newEnv starts a hub with a recorder and an RTSP server on a free port.
func newEnv(t *testing.T, hc ingest.HubConfig, cfg Config) *env {
	t.Helper()
	e, err := startEnv(t, hc, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

func startEnv(t *testing.T, hc ingest.HubConfig, cfg Config) (*env, error) {
	e := &env{rec: ingesttest.NewRecorder(), logs: &ingesttest.Logs{}}
	log := e.logs.Logger()
	hc.Handler = e.rec
	hc.Logger = log
	e.hub = ingest.NewHub(hc)
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cfg.Logger = log
	srv, err := New(cfg, e.hub)
	if err != nil {
		return nil, err
	}
	e.srv = srv
	t.Cleanup(func() {
		srv.Close()
		if t.Failed() || os.Getenv("RTSP_TEST_LOG") != "" {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e, nil
}

func (e *env) url(path string) string { return fmt.Sprintf("rtsp://%s/%s", e.srv.Addr(), path) }

// newUDPEnv is newEnv with the UDP transport on. RTP and RTCP need two fixed
// consecutive ports, so it retries when another process took them meanwhile.
func newUDPEnv(t *testing.T, hc ingest.HubConfig, cfg Config) *env {
	t.Helper()
	var err error
	for range 20 {
		var e *env
		cfg.UDPAddr = fmt.Sprintf("127.0.0.1:%d", freeUDPPair(t))
		e, err = startEnv(t, hc, cfg)
		if err == nil {
			return e
		}
	}
	t.Fatalf("no usable UDP port pair: %v", err)
	return nil
}

// freeUDPPair returns an even UDP port whose successor was free too.
func freeUDPPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		c1, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := c1.LocalAddr().(*net.UDPAddr).Port
		if port%2 != 0 || port >= 65534 {
			c1.Close()
			continue
		}
		c2, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port+1))
		c1.Close()
		if err != nil {
			continue
		}
		c2.Close()
		return port
	}
	t.Fatal("no free UDP port pair")
	return 0
}

// rawRequest sends one RTSP request on a new connection and returns the
// response's status line and headers.
func rawRequest(t *testing.T, addr, req string) (status string, header string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	status, err = br.ReadString('\n')
	if err != nil {
		t.Fatalf("read response to %q: %v", firstLine(req), err)
	}
	var hb strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
		hb.WriteString(l)
	}
	return strings.TrimSpace(status), hb.String()
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\r\n"); return l }

// testSDP is a minimal H.264 announce body.
const testSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"

// announce builds a raw ANNOUNCE for url with optional extra header lines.
func announce(url string, extra ...string) string {
	h := ""
	for _, e := range extra {
		h += e + "\r\n"
	}
	return fmt.Sprintf("ANNOUNCE %s RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n%sContent-Length: %d\r\n\r\n%s",
		url, h, len(testSDP), testSDP)
}

// rtspClient speaks raw RTSP over one connection, for clients that ffmpeg
// cannot imitate (ones that stall mid-handshake).
type rtspClient struct {
	t    *testing.T
	c    net.Conn
	br   *bufio.Reader
	cseq int
}

func dialRTSP(t *testing.T, addr string) *rtspClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rtspClient{t: t, c: c, br: bufio.NewReader(c)}
}

// do sends method url with header lines (and body) and returns the status
// line and the response headers by lower-case name.
func (r *rtspClient) do(method, url string, body string, header ...string) (string, map[string]string) {
	r.t.Helper()
	r.cseq++
	req := fmt.Sprintf("%s %s RTSP/1.0\r\nCSeq: %d\r\n", method, url, r.cseq)
	for _, h := range header {
		req += h + "\r\n"
	}
	if body != "" {
		req += fmt.Sprintf("Content-Length: %d\r\n", len(body))
	}
	req += "\r\n" + body
	_ = r.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.c.Write([]byte(req)); err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	status, err := r.br.ReadString('\n')
	if err != nil {
		r.t.Fatalf("%s: %v", method, err)
	}
	hdr := map[string]string{}
	for {
		l, err := r.br.ReadString('\n')
		if err != nil || l == "\r\n" {
			break
		}
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		hdr[strings.ToLower(k)] = strings.TrimSpace(v)
	}
	if n := hdr["content-length"]; n != "" {
		var l int
		fmt.Sscan(n, &l)
		_, _ = r.br.Discard(l)
	}
	_ = r.c.SetDeadline(time.Time{})
	return strings.TrimSpace(status), hdr
}
