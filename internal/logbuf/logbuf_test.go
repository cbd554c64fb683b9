package logbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBuffer(t *testing.T) {
	var b Buffer
	b.Write([]byte("a"))
	b.Write([]byte("b"))
	if b.String() != "ab" {
		t.Fatalf("%q", b.String())
	}
	bounded := Buffer{Max: 4}
	bounded.Write([]byte("12345"))
	bounded.Write([]byte("67"))
	if bounded.String() != "67" {
		t.Fatalf("bounded kept %q, want the tail after the bound", bounded.String())
	}
	// A writer and readers at once (run with -race).
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for range 1000 {
			b.Write([]byte("x"))
		}
	}()
	go func() {
		defer wg.Done()
		for range 1000 {
			_ = b.String()
		}
	}()
	wg.Wait()
	if n := strings.Count(b.String(), "x"); n != 1000 {
		t.Fatalf("%d writes kept, want 1000", n)
	}
}
