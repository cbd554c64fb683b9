package token

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/livecdn/livecdn/internal/decimal"
)

// Query parameter names of a token.
const (
	ParamExpires   = "exp" // expiry, Unix seconds
	ParamSignature = "sig" // base64url (no padding) HMAC-SHA256 of prefix + "\n" + exp
)

// MinKeyLen is the shortest key NewSigner accepts, in bytes.
const MinKeyLen = 16

// MaxPathLen bounds the paths Sign and Verify accept.
const MaxPathLen = 2048

// Errors of Verify. Every one of them means "403 Forbidden"; they differ
// only so that logs and metrics can tell a link that ran out from an attack.
var (
	// ErrMissing: the request carries neither exp nor sig.
	ErrMissing = errors.New("token missing")
	// ErrExpired: a genuine token whose expiry has passed.
	ErrExpired = errors.New("token expired")
	// ErrForged: a malformed token, a wrong signature, or a token of another
	// stream or key.
	ErrForged = errors.New("token invalid")
	// ErrBadPath: the path is not below /live/{stream}/ or /replay/{stream}/,
	// or is not in its one canonical spelling (dot segments, escapes, …).
	ErrBadPath = errors.New("path cannot carry a token")
)

// sigLen is the length of an encoded signature.
var sigLen = base64.RawURLEncoding.EncodedLen(sha256.Size)

// Signer signs and verifies tokens with one key. It is safe for concurrent use.
type Signer struct {
	macs sync.Pool // of *macState: keyed HMACs, reused across requests
}

// NewSigner returns a Signer for key, which must be at least MinKeyLen
// bytes; a long random string is best (openssl rand -base64 32).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("sign key is %d bytes; want at least %d", len(key), MinKeyLen)
	}
	k := append([]byte(nil), key...)
	s := &Signer{}
	s.macs.New = func() any { return &macState{h: hmac.New(sha256.New, k)} }
	return s, nil
}

// Prefix returns the directory a token for path is bound to: "/live/{stream}/"
// or "/replay/{stream}/". Other paths, and paths not in canonical form, give
// an error wrapping ErrBadPath.
func Prefix(path string) (string, error) {
	if len(path) > MaxPathLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadPath, MaxPathLen)
	}
	var root string
	switch {
	case strings.HasPrefix(path, "/live/"):
		root = "/live/"
	case strings.HasPrefix(path, "/replay/"):
		root = "/replay/"
	default:
		return "", fmt.Errorf("%w: %q is not below /live/{stream}/ or /replay/{stream}/", ErrBadPath, path)
	}
	rest := path[len(root):]
	stream, _, ok := strings.Cut(rest, "/")
	if !ok {
		return "", fmt.Errorf("%w: %q names no object below %s{stream}/", ErrBadPath, path, root)
	}
	for seg, more := rest, true; more; {
		var s string
		s, seg, more = strings.Cut(seg, "/")
		if (s == "" && more) || s == "." || s == ".." {
			return "", fmt.Errorf("%w: %q has an empty or dot segment", ErrBadPath, path)
		}
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c >= 0x7f || c == '%' || c == '\\' || c == '?' || c == '#' {
				return "", fmt.Errorf("%w: %q has a byte that is escaped, special or not printable ASCII", ErrBadPath, path)
			}
		}
	}
	return path[:len(root)+len(stream)+1], nil
}

// Sign returns the token query ("exp=…&sig=…", no leading "?") that opens
// the stream of path until expires.
func (s *Signer) Sign(path string, expires time.Time) (string, error) {
	prefix, err := Prefix(path)
	if err != nil {
		return "", err
	}
	exp := expires.Unix()
	if exp <= 0 || exp >= 1e18 {
		return "", fmt.Errorf("token expiry %v is out of range", expires)
	}
	e := strconv.FormatInt(exp, 10)
	var sum [sha256.Size]byte
	return ParamExpires + "=" + e + "&" + ParamSignature + "=" + base64.RawURLEncoding.EncodeToString(s.mac(sum[:0], prefix, e)), nil
}

// SignURL adds a token valid for ttl from now to rawURL, which is a path
// ("/live/cam1/index.m3u8") or an absolute URL
// ("http://edge:8081/live/cam1/index.m3u8"). Query parameters other than
// exp and sig, and the fragment, are kept.
func (s *Signer) SignURL(rawURL string, ttl time.Duration, now time.Time) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("token ttl %v: want more than 0", ttl)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	if u.Opaque != "" || (u.Scheme != "" && u.Host == "") {
		return "", fmt.Errorf("%w: %q has no path", ErrBadPath, rawURL)
	}
	tok, err := s.Sign(u.EscapedPath(), now.Add(ttl))
	if err != nil {
		return "", err
	}
	if q := StripQuery(u.RawQuery); q != "" {
		tok = q + "&" + tok
	}
	u.RawQuery, u.ForceQuery = tok, false
	return u.String(), nil
}

// Verify checks the token in rawQuery (the request's query string, without
// "?") for path (the request's path exactly as received, not decoded or
// cleaned) at now. It returns nil, or an error that is or wraps ErrMissing,
// ErrExpired, ErrForged or ErrBadPath.
func (s *Signer) Verify(path, rawQuery string, now time.Time) error {
	prefix, err := Prefix(path)
	if err != nil {
		return err
	}
	t := findToken(rawQuery)
	switch {
	case t.nExp == 0 && t.nSig == 0:
		return ErrMissing
	case t.nExp != 1 || t.nSig != 1 || t.bad:
		return fmt.Errorf("%w: want exactly one %s and one %s", ErrForged, ParamExpires, ParamSignature)
	}
	exp, ok := parseExp(t.exp)
	if !ok {
		return fmt.Errorf("%w: %s is not a Unix time", ErrForged, ParamExpires)
	}
	var got, want [sha256.Size]byte
	if len(t.sig) != sigLen {
		return fmt.Errorf("%w: %s is not a signature", ErrForged, ParamSignature)
	}
	if _, err := base64.RawURLEncoding.Strict().Decode(got[:], []byte(t.sig)); err != nil {
		return fmt.Errorf("%w: %s is not a signature", ErrForged, ParamSignature)
	}
	if !hmac.Equal(got[:], s.mac(want[:0], prefix, t.exp)) {
		return fmt.Errorf("%w: signature does not match %s", ErrForged, prefix)
	}
	if !now.Before(time.Unix(exp, 0)) {
		return ErrExpired
	}
	return nil
}

// mac appends HMAC-SHA256(key, prefix + "\n" + exp) to dst.
func (s *Signer) mac(dst []byte, prefix, exp string) []byte {
	m := s.macs.Get().(*macState)
	m.buf = append(append(append(m.buf[:0], prefix...), '\n'), exp...)
	m.h.Reset()
	m.h.Write(m.buf)
	m.sum = m.h.Sum(m.sum[:0])
	dst = append(dst, m.sum...)
	s.macs.Put(m)
	return dst
}

// macState is a keyed HMAC with its buffers, reused across requests.
type macState struct {
	h        hash.Hash
	buf, sum []byte
}

// parseExp parses a canonical positive decimal: one expiry has one spelling.
func parseExp(s string) (int64, bool) {
	n, ok := decimal.Parse(s)
	return n, ok && n > 0
}
