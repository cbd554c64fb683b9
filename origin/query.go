package origin

import (
	"errors"
	"net/url"

	"github.com/livecdn/livecdn/internal/decimal"
)

// blocking is a parsed LL-HLS playlist request.
type blocking struct {
	msn  int64 // -1 when absent
	part int   // -1 when absent
	skip bool
}

var errBadQuery = errors.New("bad LL-HLS query")

// parseBlocking reads _HLS_msn, _HLS_part and _HLS_skip. Other parameters are
// ignored (players and CDNs add their own); malformed LL-HLS ones are a 400,
// as is _HLS_part without _HLS_msn (rfc8216bis 6.2.5.2).
func parseBlocking(q url.Values) (blocking, error) {
	b := blocking{msn: -1, part: -1}
	if v, ok := q["_HLS_msn"]; ok {
		n, err := canonicalInt(v)
		if err != nil {
			return b, errors.Join(errBadQuery, errors.New("_HLS_msn: "+err.Error()))
		}
		b.msn = n
	}
	if v, ok := q["_HLS_part"]; ok {
		if b.msn < 0 {
			return b, errors.Join(errBadQuery, errors.New("_HLS_part without _HLS_msn"))
		}
		n, err := canonicalInt(v)
		if err != nil || n > 1<<20 {
			return b, errors.Join(errBadQuery, errors.New("_HLS_part: not a part index"))
		}
		b.part = int(n)
	}
	if v, ok := q["_HLS_skip"]; ok {
		if len(v) != 1 || (v[0] != "YES" && v[0] != "v2") {
			return b, errors.Join(errBadQuery, errors.New("_HLS_skip must be YES or v2"))
		}
		b.skip = true
	}
	return b, nil
}

func canonicalInt(v []string) (int64, error) {
	if len(v) != 1 {
		return 0, errors.New("given more than once")
	}
	n, ok := decimal.Parse(v[0])
	if !ok {
		return 0, errors.New("not a number")
	}
	return n, nil
}
