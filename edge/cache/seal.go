package cache

import (
	"os"
	"runtime"
	"sync/atomic"
)

// sealMin is the smallest body Seal moves into a file: below it, one write
// of headers and body from the heap is cheaper than a header write plus
// a sendfile, and a file descriptor per small object is not worth it.
const sealMin = 16 << 10

var pageSize = os.Getpagesize()

// fileBytes counts the bytes held in sealed objects' files that are still
// open, evicted ones included until the garbage collector drops them.
var fileBytes atomic.Int64

// FileBytes returns the bytes held in memory files by sealed objects,
// including evicted objects whose files the garbage collector has not yet
// closed (an evicted object's file closes when the last viewer reading it
// is done and the collector finds it unreachable).
func FileBytes() int64 { return fileBytes.Load() }

// Seal moves a complete body of at least 16 KiB out of the Go heap into an
// anonymous memory file (memfd on Linux), so hits can be sent with
// sendfile(2) without copying the bytes through the process, and the
// garbage collector never scans or copies them. It reports whether the
// object is sealed; an object still arriving, failed, small, or on a
// system without memory files stays as it is. Readers holding the old
// body slice keep it; later readers use View.File.
func (o *Object) Seal() bool {
	o.mu.Lock()
	body, ok := o.body, o.done && o.err == nil && o.file == nil && len(o.body) >= sealMin && o.encoded == nil
	sealed := o.file != nil
	o.mu.Unlock()
	if !ok {
		return sealed
	}
	f, err := memFile(o.Key, body)
	if err != nil {
		return false
	}
	n := int64(len(body))
	fileBytes.Add(n)
	runtime.AddCleanup(f, func(n int64) { fileBytes.Add(-n) }, n)
	o.mu.Lock()
	o.file, o.size, o.body = f, len(body), nil
	o.mu.Unlock()
	return true
}
