package validate

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// parseDockerfile parses deploy/Dockerfile with BuildKit's own parser and
// instruction decoder, failing on any lint warning BuildKit would print.
func parseDockerfile(t *testing.T) map[string]instructions.Stage {
	t.Helper()
	res, err := parser.Parse(bytes.NewReader(readFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("parse Dockerfile: %v", err)
	}
	for _, w := range res.Warnings {
		t.Errorf("Dockerfile: %s", w.Short)
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []parser.Range) {
		t.Errorf("Dockerfile lint %s: %s (line %v)", rule, msg, loc)
	}})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		t.Fatalf("Dockerfile instructions: %v", err)
	}
	byName := map[string]instructions.Stage{}
	for _, s := range stages {
		byName[s.Name] = s
	}
	return byName
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	build, ok := stages["build"]
	if !ok {
		t.Fatal("no build stage")
	}
	var goBuild string
	for _, c := range build.Commands {
		if r, ok := c.(*instructions.RunCommand); ok && strings.Contains(strings.Join(r.CmdLine, " "), "go build") {
			goBuild = strings.Join(r.CmdLine, " ")
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "./cmd/livecdn", "-o /out/livecdn"} {
		if !strings.Contains(goBuild, want) {
			t.Errorf("go build step %q lacks %q", goBuild, want)
		}
	}
	for name, sub := range map[string]string{"origin": "origin", "edge": "edge"} {
		s, ok := stages[name]
		if !ok {
			t.Errorf("no %s stage", name)
			continue
		}
		var user, entry []string
		var copied string
		var health *instructions.HealthCheckCommand
		labels := map[string]bool{}
		for _, c := range s.Commands {
			switch c := c.(type) {
			case *instructions.UserCommand:
				user = append(user, c.User)
			case *instructions.EntrypointCommand:
				entry = c.CmdLine
			case *instructions.HealthCheckCommand:
				health = c
			case *instructions.LabelCommand:
				for _, kv := range c.Labels {
					labels[kv.Key] = true
				}
			case *instructions.CopyCommand:
				if c.From == "build" {
					copied = c.DestPath
				}
			}
		}
		if len(user) == 0 || strings.HasPrefix(user[len(user)-1], "0") || strings.HasPrefix(user[len(user)-1], "root") {
			t.Errorf("%s: runs as root (USER %v)", name, user)
		}
		if len(entry) != 2 || entry[1] != sub || !strings.HasSuffix(copied, "livecdn") ||
			(entry[0] != copied && filepath.Join("/usr/local/bin", entry[0]) != copied) {
			t.Errorf("%s: ENTRYPOINT %v does not run the copied binary %q as `livecdn %s`", name, entry, copied, sub)
		}
		if health == nil || len(health.Health.Test) < 4 || health.Health.Test[0] != "CMD" ||
			health.Health.Test[2] != "probe" || !strings.HasSuffix(health.Health.Test[3], "/healthz") {
			t.Errorf("%s: HEALTHCHECK %+v, want CMD livecdn probe …/healthz", name, health)
		}
		for _, l := range []string{"org.opencontainers.image.title", "org.opencontainers.image.source", "org.opencontainers.image.version"} {
			if !labels[l] {
				t.Errorf("%s: no label %s", name, l)
			}
		}
	}
	if !strings.Contains(stages["origin"].BaseName, "debian") || !strings.Contains(string(readFile(t, "Dockerfile")), "install -y --no-install-recommends ffmpeg") {
		t.Error("origin stage must be Debian with Debian's ffmpeg")
	}
	if !strings.Contains(stages["edge"].BaseName, "distroless/static") {
		t.Errorf("edge base %s: want distroless static (nothing but the binary)", stages["edge"].BaseName)
	}
}

// The build context .dockerignore leaves keeps every file `go build
// ./cmd/livecdn` reads: go.mod, go.sum, and each Go and embedded file of the
// module's packages the binary imports.
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	root := filepath.Dir(deployDir())
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-deps", "-json=Dir,Module,GoFiles,EmbedFiles", "./cmd/livecdn")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	need := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			Dir                 string
			Module              *struct{ Path string }
			GoFiles, EmbedFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/livecdn/livecdn" {
			continue
		}
		rel, _ := filepath.Rel(root, p.Dir)
		for _, name := range slices.Concat(p.GoFiles, p.EmbedFiles) {
			need = append(need, filepath.ToSlash(filepath.Join(rel, name)))
		}
	}
	if len(need) < 20 {
		t.Fatalf("only %d files found for the build", len(need))
	}
	for _, file := range need {
		if excluded, err := pm.MatchesOrParentMatches(file); err != nil || excluded {
			t.Errorf(".dockerignore excludes %s, which go build needs (%v)", file, err)
		}
	}
	// And it keeps out what the build does not need.
	for _, file := range []string{".git/config", "internal/testenv/node_modules/x", "edge/cache/cache_test.go", "deploy/compare/nginx.conf"} {
		if excluded, _ := pm.MatchesOrParentMatches(file); !excluded {
			t.Errorf(".dockerignore sends %s to the builder", file)
		}
	}
}
