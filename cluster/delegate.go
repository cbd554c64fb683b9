package cluster

import (
	"bytes"
	"context"
	"log"
	"log/slog"

	"github.com/hashicorp/memberlist"
)

// delegate hands memberlist this node's metadata; the cluster gossips
// nothing else (cache state travels over HTTP, not gossip).
type delegate struct{ c *Cluster }

var _ memberlist.Delegate = delegate{}

// NodeMeta implements memberlist.Delegate.
func (d delegate) NodeMeta(limit int) []byte {
	d.c.mu.Lock()
	defer d.c.mu.Unlock()
	b := d.c.meta.encode()
	if len(b) > limit {
		return nil // Validate keeps this from happening
	}
	return b
}

// NotifyMsg implements memberlist.Delegate.
func (delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate.
func (delegate) GetBroadcasts(int, int) [][]byte { return nil }

// LocalState implements memberlist.Delegate.
func (delegate) LocalState(bool) []byte { return nil }

// MergeRemoteState implements memberlist.Delegate.
func (delegate) MergeRemoteState([]byte, bool) {}

// events keeps the cluster's view in step with memberlist. memberlist calls
// it with its node lock held, so it must not call back into memberlist.
type events struct{ c *Cluster }

var _ memberlist.EventDelegate = events{}

// NotifyJoin implements memberlist.EventDelegate.
func (e events) NotifyJoin(n *memberlist.Node) {
	e.c.cfg.Logger.Info("cluster: member joined", "node", n.Name, "addr", n.Address())
	e.c.set(n)
}

// NotifyUpdate implements memberlist.EventDelegate.
func (e events) NotifyUpdate(n *memberlist.Node) { e.c.set(n) }

// NotifyLeave implements memberlist.EventDelegate.
func (e events) NotifyLeave(n *memberlist.Node) {
	e.c.cfg.Logger.Info("cluster: member left", "node", n.Name, "addr", n.Address(), "dead", n.State == memberlist.StateDead)
	e.c.remove(n.Name)
}

// newMemberlistLogger routes memberlist's "[LEVEL] memberlist: …" lines
// to slog at the matching level.
func newMemberlistLogger(l *slog.Logger) *log.Logger {
	return log.New(slogWriter{l}, "", 0)
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for prefix, lv := range map[string]slog.Level{"[DEBUG]": slog.LevelDebug, "[INFO]": slog.LevelInfo,
		"[WARN]": slog.LevelWarn, "[ERR]": slog.LevelError, "[ERROR]": slog.LevelError} {
		if bytes.HasPrefix(line, []byte(prefix)) {
			level, line = lv, bytes.TrimSpace(line[len(prefix):])
			break
		}
	}
	// memberlist warns about every undecryptable packet: with a wrong key
	// that is the symptom to surface, so it stays a warning.
	w.l.Log(context.Background(), level, string(line))
	return len(p), nil
}
