package token

import "bytes"

// bom is the UTF-8 byte order mark some tools put before #EXTM3U.
var bom = []byte("\xef\xbb\xbf")

// RewriteHLS returns playlist (multivariant or media) with tokenQuery added
// to every URI line and every URI="…" attribute whose URI is relative or an
// absolute path. All other bytes are kept, line endings (LF or CRLF)
// included. tokenQuery is what Signer.Sign or Query return; "" or a
// value with characters that could break the playlist returns playlist
// unchanged (the player's next request is then refused, never mis-served).
func RewriteHLS(playlist []byte, tokenQuery string) []byte {
	tok, ok := cleanToken(tokenQuery)
	if !ok {
		return playlist
	}
	// Room for a token on every line: most lines of an LL-HLS playlist name a URI.
	out := make([]byte, 0, len(playlist)+(bytes.Count(playlist, []byte{'\n'})+1)*(len(tok)+1))
	rest := playlist
	if bytes.HasPrefix(rest, bom) {
		out, rest = append(out, bom...), rest[len(bom):]
	}
	for len(rest) > 0 {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i]
		}
		rest = rest[len(line):]
		// A CR before the LF stays in line: rewriteLine keeps it in place.
		out = rewriteLine(out, line, tok)
		if len(rest) > 0 {
			out, rest = append(out, '\n'), rest[1:]
		}
	}
	return out
}

// rewriteLine appends line, with its URIs tokenized, to out.
func rewriteLine(out, line []byte, tok string) []byte {
	const space = " \t\r"
	trimmed := bytes.Trim(line, space)
	switch {
	case len(trimmed) == 0: // blank
		return append(out, line...)
	case trimmed[0] != '#': // URI line
		if o, ok := appendTokenized(out, string(line), tok); ok {
			return o
		}
		return append(out, line...)
	case !bytes.HasPrefix(line, []byte("#EXT")), bytes.HasPrefix(line, []byte("#EXTINF:")):
		// A comment, or EXTINF, whose title is free text and no attribute list.
		return append(out, line...)
	}
	// The attribute list ends before the CR of a CRLF line ending.
	if n := len(line); line[n-1] == '\r' {
		return append(rewriteAttrs(out, line[:n-1], tok), '\r')
	}
	return rewriteAttrs(out, line, tok)
}

// rewriteAttrs appends a tag line to out with the value of every URI
// attribute tokenized. It walks the attribute list (RFC 8216 section 4.2)
// the way players and gohlslib read it, so that URI= inside another
// attribute's quoted value is not taken for an attribute; where the list
// stops parsing, the rest is copied as it is.
func rewriteAttrs(out, line []byte, tok string) []byte {
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return append(out, line...)
	}
	copied := 0 // line[:copied] is in out
	for pos := colon + 1; pos < len(line); {
		eq := bytes.IndexByte(line[pos:], '=')
		if eq < 0 {
			break
		}
		name := bytes.TrimLeft(line[pos:pos+eq], " ")
		pos += eq + 1
		if pos < len(line) && line[pos] == '"' {
			end := bytes.IndexByte(line[pos+1:], '"')
			if end < 0 {
				break
			}
			vs, ve := pos+1, pos+1+end
			if string(name) == "URI" {
				out, copied = appendURI(out, line, copied, vs, ve, tok)
			}
			pos = ve + 1
			if pos < len(line) && line[pos] != ',' {
				break
			}
			pos++
		} else {
			// Unquoted: not what the RFC allows for URI, but players read it.
			end := bytes.IndexByte(line[pos:], ',')
			if end < 0 {
				end = len(line) - pos
			}
			if string(name) == "URI" {
				out, copied = appendURI(out, line, copied, pos, pos+end, tok)
			}
			pos += end + 1
		}
	}
	return append(out, line[copied:]...)
}

// appendURI appends line[copied:vs] and the tokenized URI line[vs:ve] to
// out and returns the new copied mark; it changes nothing when the URI is
// to be left alone.
func appendURI(out, line []byte, copied, vs, ve int, tok string) ([]byte, int) {
	mark := len(out)
	out = append(out, line[copied:vs]...)
	if o, ok := appendTokenized(out, string(line[vs:ve]), tok); ok {
		return o, ve
	}
	return out[:mark], copied
}
