package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func newSet() (*flag.FlagSet, *string, *time.Duration, *int, *List) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("config", "", "config file")
	h := fs.String("http", ":8080", "listen")
	p := fs.Duration("part", 200*time.Millisecond, "part")
	w := fs.Int("window", 10, "window")
	var l List
	fs.Var(&l, "origin", "origins")
	return fs, h, p, w, &l
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	os.WriteFile(cfg, []byte("http: \":9000\"\npart: 500ms\nwindow: 4\norigin: [a, b]\n"), 0o644)
	t.Setenv("LIVECDN_PART", "300ms")
	fs, h, p, w, l := newSet()
	if err := Parse(fs, []string{"--config", cfg, "--window", "7"}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if *h != ":9000" || *p != 300*time.Millisecond || *w != 7 || l.String() != "a,b" {
		t.Fatalf("got http=%s part=%v window=%d origin=%s", *h, *p, *w, l.String())
	}
}

func TestErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("nope: 1\n"), 0o644)
	for _, args := range [][]string{
		{"--bogus"},
		{"--part", "fast"},
		{"--config", bad},
		{"--config", filepath.Join(dir, "missing.yaml")},
		{"extra"},
	} {
		fs, _, _, _, _ := newSet()
		err := Parse(fs, args, &bytes.Buffer{})
		if err == nil {
			t.Errorf("%v: no error", args)
			continue
		}
		if bytes.ContainsRune([]byte(err.Error()), '\n') {
			t.Errorf("%v: error spans lines: %q", args, err)
		}
	}
	t.Setenv("LIVECDN_WINDOW", "ten")
	fs, _, _, _, _ := newSet()
	if err := Parse(fs, nil, &bytes.Buffer{}); err == nil {
		t.Error("bad env value accepted")
	}
}

func TestHelpListsDefaults(t *testing.T) {
	fs, _, _, _, _ := newSet()
	var out bytes.Buffer
	if err := Parse(fs, []string{"--help"}, &out); err != ErrHelp {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"-http", `(default ":8080")`, "-part", "(default 200ms)"} {
		if !bytes.Contains(out.Bytes(), []byte(want)) {
			t.Errorf("help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "100MB": 100e6, "4096": 4096, "64K": 64 << 10} {
		var s Size
		if err := s.Set(in); err != nil || int64(s) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "1.5GiB", "-1", "1XB", "1 GiB"} {
		var s Size
		if s.Set(in) == nil {
			t.Errorf("Set(%q) accepted", in)
		}
	}
	s := Size(1 << 30)
	if s.String() != "1GiB" {
		t.Errorf("String = %s", s.String())
	}
}
