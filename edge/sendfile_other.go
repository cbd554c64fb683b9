//go:build !linux

package edge

import (
	"net"
	"os"
)

// sendFile is Linux-only; elsewhere the caller copies.
func sendFile(net.Conn, *os.File, int64, int64) (int64, error, bool) { return 0, nil, false }

// withMore is Linux-only (MSG_MORE with sendfile); elsewhere a no-op.
func withMore(ln net.Listener) net.Listener { return ln }

// holdNext is Linux-only; elsewhere a no-op.
func holdNext(net.Conn) {}
