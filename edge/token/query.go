package token

import (
	"net/url"
	"strings"
)

// token is what a query says about exp and sig.
type token struct {
	nExp, nSig int    // occurrences
	exp, sig   string // decoded values of the last occurrence
	bad        bool   // a value is not decodable
}

// findToken reads exp and sig from a raw query. Names are matched after
// percent-decoding ("e%78p" is exp), exactly like StripQuery matches them,
// so no spelling of a token parameter can be checked but not stripped.
func findToken(rawQuery string) token {
	var t token
	for rest, more := rawQuery, rawQuery != ""; more; {
		var pair string
		pair, rest, more = strings.Cut(rest, "&")
		key, val, _ := strings.Cut(pair, "=")
		name, ok := tokenParam(key)
		if !ok {
			continue
		}
		v, err := url.QueryUnescape(val)
		if err != nil {
			t.bad = true
		}
		if name == ParamExpires {
			t.nExp++
			t.exp = v
		} else {
			t.nSig++
			t.sig = v
		}
	}
	return t
}

// tokenParam reports whether a raw query key names exp or sig.
func tokenParam(key string) (string, bool) {
	if strings.ContainsAny(key, "%+") {
		k, err := url.QueryUnescape(key)
		if err != nil {
			return "", false
		}
		key = k
	}
	return key, key == ParamExpires || key == ParamSignature
}

// StripQuery removes the token parameters (exp and sig, in any spelling)
// from a raw query and keeps every other parameter, byte for byte and in
// order. The edge applies it before building a cache key or an upstream
// request, so one cached copy serves every viewer and the token never
// leaves the edge.
func StripQuery(rawQuery string) string {
	if !strings.Contains(rawQuery, ParamExpires) && !strings.Contains(rawQuery, ParamSignature) &&
		!strings.Contains(rawQuery, "%") {
		return rawQuery // the common case: nothing to strip, no allocation
	}
	var b strings.Builder
	first := true
	for rest, more := rawQuery, rawQuery != ""; more; {
		var pair string
		pair, rest, more = strings.Cut(rest, "&")
		key, _, _ := strings.Cut(pair, "=")
		if _, tok := tokenParam(key); tok {
			continue
		}
		if !first {
			b.WriteByte('&')
		}
		b.WriteString(pair)
		first = false
	}
	return b.String()
}

// Query returns the token of a request's raw query in canonical form,
// "exp=…&sig=…", ready for RewriteHLS and RewriteMPD; "" when the query
// does not hold exactly one exp and one sig. It does not verify: call
// Signer.Verify first.
func Query(rawQuery string) string {
	t := findToken(rawQuery)
	if t.nExp != 1 || t.nSig != 1 || t.bad || t.exp == "" || t.sig == "" {
		return ""
	}
	return ParamExpires + "=" + url.QueryEscape(t.exp) + "&" + ParamSignature + "=" + url.QueryEscape(t.sig)
}

// cleanToken checks a token query given to a rewriter. Only unreserved
// characters, "=", "&" and percent escapes are allowed: such a string can
// be pasted into an HLS quoted string, a URI line, an XML attribute (after
// "&" → "&amp;") and a DASH template (no "$") without breaking any of them.
func cleanToken(q string) (string, bool) {
	q = strings.TrimPrefix(q, "?")
	if q == "" {
		return "", false
	}
	for i := 0; i < len(q); i++ {
		switch c := q[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '=', c == '&':
		case c == '%' && i+2 < len(q) && ishex(q[i+1]) && ishex(q[i+2]):
			i += 2
		default:
			return "", false
		}
	}
	return q, true
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// tokenize returns uri carrying tok (see the package comment for the
// rules), or uri and false when uri is to be left alone. White space and
// control bytes around uri, which URL parsers drop, stay around it.
func tokenize(uri, tok string) (string, bool) {
	b, ok := appendTokenized(nil, uri, tok)
	if !ok {
		return uri, false
	}
	return string(b), true
}

// appendTokenized appends tokenize(uri, tok) to dst; when uri is to be
// left alone, it returns dst unchanged and false.
func appendTokenized(dst []byte, uri, tok string) ([]byte, bool) {
	core := strings.TrimFunc(uri, isSpaceOrControl)
	if !local(core) {
		return dst, false
	}
	lead := strings.Index(uri, core)
	base, frag := core, ""
	if i := strings.IndexByte(core, '#'); i >= 0 {
		base, frag = core[:i], core[i:]
	}
	path, query, _ := strings.Cut(base, "?")
	// Trailing empty pairs go too, so that a second rewrite changes nothing.
	query = strings.TrimRight(StripQuery(query), "&")
	dst = append(dst, uri[:lead]...)
	dst = append(dst, path...)
	dst = append(dst, '?')
	if query != "" {
		dst = append(dst, query...)
		dst = append(dst, '&')
	}
	dst = append(dst, tok...)
	dst = append(dst, frag...)
	return append(dst, uri[lead+len(core):]...), true
}

// isSpaceOrControl reports the runes the WHATWG URL parser strips from both
// ends of a URL: C0 controls and space.
func isSpaceOrControl(r rune) bool { return r <= ' ' }

// local reports whether uri is a relative reference or an absolute path
// (RFC 3986 section 4.2), that is: served by the host the playlist came
// from. URIs with a scheme and network-path references ("//host/…") are
// not. It reads uri the way browsers do (WHATWG URL): tabs and newlines
// anywhere are ignored and "\" counts as "/", so "/\evil.example/x" is
// another host too.
func local(uri string) bool {
	if strings.ContainsAny(uri, "\t\n\r") {
		uri = strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace(uri)
	}
	slash := func(c byte) bool { return c == '/' || c == '\\' }
	if uri == "" || len(uri) >= 2 && slash(uri[0]) && slash(uri[1]) {
		return false
	}
	for i := 0; i < len(uri); i++ {
		switch c := uri[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return false // scheme ":" …
		default:
			return true
		}
	}
	return true
}
