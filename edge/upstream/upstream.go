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
	// Header carries the request headers worth forwarding (CMCD, Via).
	Header http.Header
	// Hop counts the fleet hops the viewer's request already made to get
	// here: 0 from a viewer, 1 from a peer edge or to a shield. A router
	// never sends a request with Hop > 0 to another edge, which is what
	// keeps peer fetches from looping.
	Hop int
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
	// Peer is set when another edge of the fleet answered (not a shield or
	// an origin): the edge caches such copies only for hot keys, since the
	// owner already holds one.
	Peer bool
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
