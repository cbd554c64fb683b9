package live

import (
	"strconv"
	"strings"

	"github.com/livecdn/livecdn/internal/decimal"
)

// Object kinds below /live/{stream}/{rendition}/.
const (
	KindPlaylist = iota + 1
	KindInit
	KindSegment
	KindPart
)

// InitName names the init section of a session; a new session gets a new
// name even when its bytes match, because a name must never change bytes.
func InitName(session int) string { return "init" + strconv.Itoa(session) + ".mp4" }

// SegmentName names a segment.
func SegmentName(msn int64) string { return "seg" + strconv.FormatInt(msn, 10) + ".m4s" }

// PartName names a part of a segment.
func PartName(msn int64, idx int) string {
	return "part" + strconv.FormatInt(msn, 10) + "." + strconv.Itoa(idx) + ".m4s"
}

// Object is a parsed object name.
type Object struct {
	Kind    int
	Session int
	MSN     int64
	Part    int
}

// ParseObject parses a file name as written by InitName, SegmentName,
// PartName, or "index.m3u8". Anything else, including numbers with signs,
// leading zeros or overflow, is refused, so one object has exactly one name.
func ParseObject(name string) (Object, bool) {
	switch {
	case name == "index.m3u8":
		return Object{Kind: KindPlaylist}, true
	case strings.HasPrefix(name, "init") && strings.HasSuffix(name, ".mp4"):
		n, ok := number(name[4 : len(name)-4])
		return Object{Kind: KindInit, Session: int(n)}, ok && n < 1<<31
	case strings.HasPrefix(name, "seg") && strings.HasSuffix(name, ".m4s"):
		n, ok := number(name[3 : len(name)-4])
		return Object{Kind: KindSegment, MSN: n}, ok
	case strings.HasPrefix(name, "part") && strings.HasSuffix(name, ".m4s"):
		m, p, found := strings.Cut(name[4:len(name)-4], ".")
		msn, ok1 := number(m)
		idx, ok2 := number(p)
		return Object{Kind: KindPart, MSN: msn, Part: int(idx)}, found && ok1 && ok2 && idx < 1<<20
	}
	return Object{}, false
}

// number parses a canonical non-negative decimal: one object, one name.
func number(s string) (int64, bool) { return decimal.Parse(s) }
