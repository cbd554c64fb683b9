package opscli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Member is one node as an edge's GET /cluster lists it.
type Member struct {
	Name   string  `json:"name"`
	Gossip string  `json:"gossip"`
	HTTP   string  `json:"http"`
	Role   string  `json:"role"`
	Zone   string  `json:"zone"`
	Weight float64 `json:"weight"`
	State  string  `json:"state"`
	// Share is the fraction of the key space this node owns (0..1).
	Share float64 `json:"share"`
}

// Cluster is the body of GET /cluster: the answering node and every member it knows.
type Cluster struct {
	Self    string   `json:"self"`
	Members []Member `json:"members"`
}

// ErrNoCluster means the node answered but has no /cluster endpoint (404):
// a stand-alone edge, an origin, or a build without clustering.
var ErrNoCluster = errors.New("no /cluster endpoint (not a clustered edge)")

// maxBody bounds what is read from a node, so a wrong URL cannot eat memory.
const maxBody = 8 << 20

// Client talks to livecdn nodes over HTTP.
type Client struct {
	// HTTP is the client used; nil means one with Timeout per request.
	HTTP *http.Client
	// Timeout bounds each request when HTTP is nil (default 5s).
	Timeout time.Duration
	// AdminToken is sent as a bearer token to admin endpoints (the nodes'
	// --admin-token; without one a node takes admin requests from loopback only).
	AdminToken string
}

func (c *Client) client() *http.Client {
	if c != nil && c.HTTP != nil {
		return c.HTTP
	}
	t := 5 * time.Second
	if c != nil && c.Timeout > 0 {
		t = c.Timeout
	}
	return &http.Client{Timeout: t}
}

// get fetches base+path and returns the body of a 200 response.
func (c *Client) get(ctx context.Context, base, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return body, resp.StatusCode, fmt.Errorf("GET %s%s: %s", base, path, resp.Status)
	}
	return body, resp.StatusCode, nil
}

// Cluster fetches GET /cluster from the node at base (e.g. http://edge:8081).
func (c *Client) Cluster(ctx context.Context, base string) (*Cluster, error) {
	body, code, err := c.get(ctx, base, "/cluster")
	if code == http.StatusNotFound {
		return nil, ErrNoCluster
	}
	if err != nil {
		return nil, err
	}
	return ParseCluster(body)
}

// ParseCluster decodes a GET /cluster body and checks that it names its members.
func ParseCluster(body []byte) (*Cluster, error) {
	var cl Cluster
	if err := json.Unmarshal(body, &cl); err != nil {
		return nil, fmt.Errorf("decode /cluster: %w", err)
	}
	for i, m := range cl.Members {
		if m.Name == "" {
			return nil, fmt.Errorf("decode /cluster: member %d has no name", i)
		}
	}
	return &cl, nil
}

// Probe GETs url and succeeds on any 2xx: the container HEALTHCHECK of
// images that have no curl.
func (c *Client) Probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Drain asks the node at base to drain (POST /admin/drain, 202 Accepted):
// it stops owning keys, finishes in-flight responses, leaves gossip and exits.
func (c *Client) Drain(ctx context.Context, base string) error {
	url := strings.TrimRight(base, "/") + "/admin/drain"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
	if err != nil {
		return err
	}
	if c.AdminToken != "" {
		req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %s %s", url, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// WaitGone polls base until it stops answering HTTP (the drained process
// exited) or ctx ends. A node that still answers when ctx ends is an error.
func (c *Client) WaitGone(ctx context.Context, base string, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if !c.answers(ctx, base) && ctx.Err() == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s still answers after the drain: %w", base, ctx.Err())
		case <-t.C:
		}
	}
}

// answers reports whether anything at base returns an HTTP response, whatever its status.
func (c *Client) answers(ctx context.Context, base string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}
