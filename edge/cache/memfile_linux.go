package cache

import (
	"os"

	"golang.org/x/sys/unix"
)

// memFile returns an anonymous memory file holding body.
func memFile(name string, body []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate("livecdn", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "memfd:"+name)
	if _, err := f.Write(body); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
