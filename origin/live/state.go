package live

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// State is what must survive an origin restart so that no URL is ever reused
// for different bytes: the next MSN, the session and discontinuity counters,
// and the stream's DASH availabilityStartTime.
type State struct {
	NextMSN  int64     `json:"next_msn"`
	Sessions int       `json:"sessions"`
	DiscSeq  int64     `json:"disc_seq"`
	Created  time.Time `json:"created"`
}

// StateStore persists State per stream under a directory. With an empty Dir
// it keeps the state in memory: numbers still never repeat within the
// process (a reconnect continues them), but restart with it, which is only
// for tests and demos.
type StateStore struct {
	Dir string

	mu  sync.Mutex
	mem map[string]State
}

func (st *StateStore) path(name string) string {
	return filepath.Join(st.Dir, name, "live-state.json")
}

// Load returns the saved state of a stream, or a zero State.
func (st *StateStore) Load(name string) (State, error) {
	var s State
	if st.Dir == "" {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.mem[name], nil
	}
	b, err := os.ReadFile(st.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("state of stream %q: %w", name, err)
	}
	return s, nil
}

// Save writes the state atomically (write, then rename), so a crash leaves
// either the old or the new state, never a torn file. It does not fsync: a
// process crash cannot lose a completed rename, and the counters are saved
// before the numbers they reserve are used.
func (st *StateStore) Save(name string, s State) error {
	if st.Dir == "" {
		st.mu.Lock()
		defer st.mu.Unlock()
		if st.mem == nil {
			st.mem = map[string]State{}
		}
		st.mem[name] = s
		return nil
	}
	p := st.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	b, _ := json.Marshal(s)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
