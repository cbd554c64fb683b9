package token

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"slices"
	"strings"
)

// mpdAttrs names the URL attributes of each DASH element (ISO/IEC 23009-1
// 5.3.9); all are relative to the BaseURL in force, so they take a query.
var mpdAttrs = map[string][]string{
	"SegmentTemplate":     {"media", "initialization", "index"},
	"SegmentURL":          {"media", "index"},
	"Initialization":      {"sourceURL"},
	"RepresentationIndex": {"sourceURL"},
}

// mpdTexts are the elements whose text is a URL.
var mpdTexts = map[string]bool{"BaseURL": true, "Location": true, "PatchLocation": true}

// edit replaces mpd[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// RewriteMPD returns mpd with tokenQuery added to its URLs (see the package
// comment for which). The document is read with encoding/xml only to find
// the attributes and texts; everything else is copied byte for byte, and
// values are written back XML-escaped. A document the decoder rejects
// (malformed, or declared in an encoding other than UTF-8) is rewritten up
// to the point of the error. tokenQuery is what Signer.Sign or Query
// return; "" or a value with characters that could break the document
// returns mpd unchanged.
func RewriteMPD(mpd []byte, tokenQuery string) []byte {
	tok, ok := cleanToken(tokenQuery)
	if !ok {
		return mpd
	}
	d := xml.NewDecoder(bytes.NewReader(mpd))
	var edits []edit
	// text follows a BaseURL or Location element: its text is rewritten
	// at its end tag, if it was exactly one run of character data.
	var text struct {
		elem       string
		runs       int
		start, end int
		value      string
	}
	prev := 0
	for {
		t, err := d.Token()
		if err != nil {
			break
		}
		off := int(d.InputOffset())
		switch t := t.(type) {
		case xml.StartElement:
			text.elem = ""
			if names := mpdAttrs[t.Name.Local]; names != nil {
				edits = rewriteTag(edits, mpd[prev:off], prev, t, names, tok)
			}
			if mpdTexts[t.Name.Local] {
				text.elem, text.runs = t.Name.Local, 0
			}
		case xml.CharData:
			if text.elem != "" {
				text.runs++
				text.start, text.end, text.value = prev, off, string(t)
			}
		case xml.EndElement:
			if text.elem != "" && text.runs == 1 {
				if e, ok := rewriteText(mpd[text.start:text.end], text.value, text.elem, tok); ok {
					e.start += text.start
					e.end += text.start
					edits = append(edits, e)
				}
			}
			text.elem = ""
		default: // a comment or processing instruction inside the text: leave it
			text.runs += 2
		}
		prev = off
	}
	if len(edits) == 0 {
		return mpd
	}
	slices.SortFunc(edits, func(a, b edit) int { return cmp.Compare(a.start, b.start) })
	out := make([]byte, 0, len(mpd)+len(edits)*(len(tok)+8))
	at := 0
	for _, e := range edits {
		out = append(out, mpd[at:e.start]...)
		out = append(out, e.text...)
		at = e.end
	}
	return append(out, mpd[at:]...)
}

// rewriteTag adds edits for the URL attributes names of the start tag raw,
// which sits at offset base of the document and decoded to t. The decoder
// has checked the tag's syntax, so a simple scan finds each attribute's
// value bytes; the k-th attribute scanned is t.Attr[k].
func rewriteTag(edits []edit, raw []byte, base int, t xml.StartElement, names []string, tok string) []edit {
	i := 1 // after "<"
	for i < len(raw) && !xmlSpace(raw[i]) && raw[i] != '/' && raw[i] != '>' {
		i++
	}
	for k := 0; ; k++ {
		for i < len(raw) && xmlSpace(raw[i]) {
			i++
		}
		if i == len(raw) || raw[i] == '/' || raw[i] == '>' {
			return edits
		}
		nameStart := i
		for i < len(raw) && !xmlSpace(raw[i]) && raw[i] != '=' {
			i++
		}
		name := string(raw[nameStart:i])
		for i < len(raw) && (xmlSpace(raw[i]) || raw[i] == '=') {
			i++
		}
		if i == len(raw) || (raw[i] != '"' && raw[i] != '\'') {
			return edits
		}
		q := raw[i]
		end := bytes.IndexByte(raw[i+1:], q)
		if end < 0 {
			return edits
		}
		vs, ve := i+1, i+1+end
		i = ve + 1
		if !slices.Contains(names, name) || k >= len(t.Attr) || t.Attr[k].Name.Space != "" || t.Attr[k].Name.Local != name {
			continue
		}
		if uri, ok := tokenize(t.Attr[k].Value, tok); ok {
			edits = append(edits, edit{base + vs, base + ve, escapeXML(uri, q)})
		}
	}
}

// rewriteText returns the edit, relative to raw, that tokenizes the URL in
// the text of a BaseURL or Location element. Surrounding white space stays.
func rewriteText(raw []byte, value, elem, tok string) (edit, bool) {
	if bytes.IndexByte(raw, '<') >= 0 { // CDATA: leave it
		return edit{}, false
	}
	if elem == "BaseURL" && strings.HasSuffix(strings.TrimFunc(value, isSpaceOrControl), "/") {
		// A directory: it only resolves other URLs, whose queries replace its own.
		return edit{}, false
	}
	uri, ok := tokenize(value, tok)
	if !ok {
		return edit{}, false
	}
	// Keep the raw white space around the URL as it was written.
	const ws = " \t\r\n"
	lead := len(raw) - len(bytes.TrimLeft(raw, ws))
	trail := len(raw) - len(bytes.TrimRight(raw, ws))
	return edit{lead, len(raw) - trail, escapeXML(strings.Trim(uri, ws), 0)}, true
}

// escapeXML escapes s for an attribute value quoted with quote, or for
// character data when quote is 0, such that an XML parser reads s back.
func escapeXML(s string, quote byte) string {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '&':
			b.WriteString("&amp;")
		case c == '<':
			b.WriteString("&lt;")
		case c == '>' && quote == 0:
			b.WriteString("&gt;")
		case c == '"' && quote == '"':
			b.WriteString("&quot;")
		case c == '\'' && quote == '\'':
			b.WriteString("&apos;")
		case c == '\r':
			b.WriteString("&#xD;") // a literal CR would be read back as LF
		case (c == '\n' || c == '\t') && quote != 0:
			b.WriteString("&#x" + string("0123456789ABCDEF"[c]) + ";") // a literal one would be read back as a space
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func xmlSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
