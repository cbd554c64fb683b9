//go:build !linux

package edge

import (
	"net"
	"os"
)

// sendFile is Linux-only; elsewhere the caller copies.
func sendFile(net.Conn, *os.File, int64, int64) (int64, error, bool) { return 0, nil, false }
