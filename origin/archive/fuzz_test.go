package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadIndex: whatever is on disk (a torn append, garbage, hostile JSON),
// loading never panics, and an index that loads can be appended to and
// loads again with the same records.
func FuzzLoadIndex(f *testing.F) {
	f.Add(`{"k":"init","r":"video","s":1,"video":true,"ts":90000,"info":{"Codec":"avc1.64001f"}}
{"k":"seg","r":"video","s":1,"msn":0,"pdt":"2026-01-02T03:04:05Z","dur":180000,"size":10}
{"k":"seg","r":"video","s":1,"msn":1,"pd`)
	f.Add("garbage\n{}\n")
	f.Add(`{"k":"seg","r":"a","msn":-5,"dur":-1,"size":-9}` + "\n")
	f.Fuzz(func(t *testing.T, content string) {
		dir := t.TempDir()
		p := filepath.Join(dir, "index.jsonl")
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		x, err := loadIndex(p, "s")
		if err != nil {
			return
		}
		x.Span()
		// After a successful load the file ends on a record boundary.
		b, _ := os.ReadFile(p)
		if len(b) > 0 && !strings.HasSuffix(string(b), "\n") {
			t.Fatalf("file left without a final newline: %q", b)
		}
		y, err := loadIndex(p, "s")
		if err != nil {
			t.Fatalf("reload: %v", err)
		}
		if len(y.Renditions) != len(x.Renditions) || y.Bytes != x.Bytes {
			t.Fatalf("reload differs: %d/%d renditions, %d/%d bytes", len(y.Renditions), len(x.Renditions), y.Bytes, x.Bytes)
		}
	})
}
