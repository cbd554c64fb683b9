// Package logbuf keeps what a child process prints (ffmpeg, a livecdn
// node, an S3 server) for later reading: a buffer the process's output
// goroutine writes while a test or the bench reads it.
package logbuf

import (
	"bytes"
	"sync"
)

// Buffer is an io.Writer safe for one writer and concurrent readers.
type Buffer struct {
	// Max bounds what is kept: when the buffer holds more, the next write
	// starts it over, so a long run keeps its tail (0: no bound).
	Max int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Max > 0 && s.b.Len() > s.Max {
		s.b.Reset()
	}
	return s.b.Write(p)
}

// String returns what is kept.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
