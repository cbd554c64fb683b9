package sut

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// FileLimit is the descriptor limit RaiseFileLimit asks for: 20,000 viewers
// hold a connection each in the bench and another in the edge, with room to
// spare.
const FileLimit = 200000

// RaiseFileLimit lifts this process' descriptor limit (RLIMIT_NOFILE): to
// FileLimit, bounded by the kernel's fs.nr_open, where the process may raise
// the hard limit (root), otherwise the soft limit to the hard one. Failures
// are quiet: the run goes on with what it has. Call it before Start: the
// processes Start runs inherit the limit. It returns the soft limit now in
// force (0 if unknown).
func RaiseFileLimit() uint64 {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) != nil {
		return 0
	}
	want := uint64(FileLimit)
	if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		if n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
			want = min(want, n)
		}
	}
	if l.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return want
		}
	}
	if l.Cur < l.Max {
		up := syscall.Rlimit{Cur: l.Max, Max: l.Max}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			return l.Max
		}
	}
	return l.Cur
}
