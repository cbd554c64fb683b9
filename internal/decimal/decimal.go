// Package decimal parses the numbers that appear in URLs (sequence numbers,
// part indexes, expiry times) in their one canonical spelling: digits only,
// no sign, no leading zeros. A number with two spellings would give one
// object two URLs and two cache entries.
package decimal

// Parse parses a canonical non-negative decimal of at most 18 digits (so it
// cannot overflow int64).
func Parse(s string) (int64, bool) {
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}
