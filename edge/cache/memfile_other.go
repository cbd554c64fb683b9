//go:build !linux

package cache

import (
	"errors"
	"os"
)

// memFile is Linux-only: elsewhere objects stay on the heap.
func memFile(string, []byte) (*os.File, error) { return nil, errors.ErrUnsupported }
