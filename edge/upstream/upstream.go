// Package upstream is where the edge fetches from: one small interface, with
// the origin list (primary plus backups) as the implementation this package
// provides; the cluster adds peers and shields as further implementations.
package upstream

import (
	"context"
	"io"
	"net/http"
)

// Request is what the edge asks an upstream for.
type Request struct {
	// Path is the escaped request path, already validated by the edge.
	Path string
	// Query is the raw query the upstream must see (LL-HLS parameters kept,
	// viewer tokens removed).
	Query string
	// Header carries the request headers worth forwarding (CMCD, hop count).
	Header http.Header
}

// URI returns path and query as one request URI.
func (r *Request) URI() string {
	if r.Query == "" {
		return r.Path
	}
	return r.Path + "?" + r.Query
}

// Response is an upstream answer whose body streams.
type Response struct {
	Status int
	Header http.Header
	// Body must be closed by the caller.
	Body io.ReadCloser
}

// Upstream fetches one object.
type Upstream interface {
	// Fetch returns the upstream's response, or an error if no upstream could
	// answer (connect error, timeout, 5xx from every candidate).
	Fetch(ctx context.Context, r *Request) (*Response, error)
}

// Func adapts a function to Upstream.
type Func func(ctx context.Context, r *Request) (*Response, error)

// Fetch implements Upstream.
func (f Func) Fetch(ctx context.Context, r *Request) (*Response, error) { return f(ctx, r) }
