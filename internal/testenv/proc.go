package testenv

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PID returns the process id of the running livecdn.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// ProcState is one process as /proc/{pid}/stat describes it.
type ProcState struct {
	PID, PPID int
	// Comm is the executable name (at most 15 bytes), e.g. "ffmpeg".
	Comm string
	// State is the one-letter state: R, S, D, Z (zombie), …
	State string
}

// ReadProc reads /proc/{pid}/stat; ok is false when no such process exists
// (a zombie still exists: its State is "Z").
func ReadProc(pid int) (ProcState, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return ProcState{}, false
	}
	// "pid (comm) state ppid …": comm may hold spaces and parentheses, so
	// it ends at the last ')'.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcState{}, false
	}
	rest := strings.Fields(string(b[end+1:]))
	if len(rest) < 2 {
		return ProcState{}, false
	}
	ppid, _ := strconv.Atoi(rest[1])
	return ProcState{PID: pid, PPID: ppid, Comm: string(b[open+1 : end]), State: rest[0]}, true
}

// Children lists the processes whose parent is ppid and whose comm is comm
// ("" for any), by walking /proc.
func Children(ppid int, comm string) []ProcState {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []ProcState
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := ReadProc(pid); ok && st.PPID == ppid && (comm == "" || st.Comm == comm) {
			out = append(out, st)
		}
	}
	return out
}
