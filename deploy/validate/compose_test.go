package validate

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/livecdn/livecdn/internal/config"
)

// loadCompose loads deploy/compose/compose.yaml the way `docker compose`
// does (compose-go, schema validation and interpolation on) with env as the
// shell environment.
func loadCompose(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	dir := filepath.Join(deployDir(), "compose")
	details, err := loader.LoadConfigFiles(context.Background(), []string{filepath.Join(dir, "compose.yaml")}, dir)
	if err != nil {
		t.Fatal(err)
	}
	details.Environment = env
	p, err := loader.LoadWithContext(context.Background(), *details, func(o *loader.Options) {
		o.SetProjectName("livecdn", true)
		o.ResolvePaths = true
	})
	if err != nil {
		t.Fatalf("compose-go: %v", err)
	}
	return p
}

func TestCompose(t *testing.T) {
	p := loadCompose(t, map[string]string{})
	for _, name := range []string{"origin", "shield", "edge-1", "edge-2", "edge-3", "prometheus", "grafana"} {
		if _, ok := p.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	if len(p.Services) != 7 {
		t.Errorf("%d services, want 7", len(p.Services))
	}
	root := filepath.Dir(deployDir())
	for name, s := range p.Services {
		// Every bind-mounted file or directory exists in the repository.
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("%s: bind mount source %s: %v", name, v.Source, err)
			}
		}
		if s.Build != nil {
			if s.Build.Context != root || s.Build.Dockerfile != "deploy/Dockerfile" {
				t.Errorf("%s: build %s -f %s, want the repository root and deploy/Dockerfile", name, s.Build.Context, s.Build.Dockerfile)
			}
			if !strings.Contains(string(readFile(t, "Dockerfile")), " AS "+s.Build.Target+"\n") {
				t.Errorf("%s: Dockerfile has no stage %q", name, s.Build.Target)
			}
		}
		if s.Build == nil {
			continue
		}
		sub := map[string]string{"origin": "origin", "edge": "edge"}[s.Build.Target]
		if sub == "" {
			t.Errorf("%s: unknown build target %q", name, s.Build.Target)
			continue
		}
		checkArgs(t, "compose "+name, sub, s.Command)
		for k := range s.Environment {
			if flag, ok := strings.CutPrefix(k, "LIVECDN_"); ok {
				checkArgs(t, "compose "+name+" environment", sub, []string{"--" + strings.ToLower(strings.ReplaceAll(flag, "_", "-"))})
			}
			if k != config.EnvName(strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "LIVECDN_"), "_", "-"))) {
				t.Errorf("%s: %s is not a LIVECDN_ variable name", name, k)
			}
		}
		if s.StopGracePeriod == nil {
			t.Errorf("%s: no stop_grace_period for the drain", name)
		}
	}
	// The development gossip key decodes to a valid key size.
	key := p.Services["shield"].Environment["LIVECDN_GOSSIP_KEY"]
	if key == nil {
		t.Fatal("shield: no LIVECDN_GOSSIP_KEY")
	}
	if b, err := base64.StdEncoding.DecodeString(*key); err != nil || (len(b) != 16 && len(b) != 24 && len(b) != 32) {
		t.Errorf("default gossip key %q: %d bytes, %v", *key, len(b), err)
	}
	// Every edge joins the others and advertises its own name.
	for _, name := range []string{"shield", "edge-1", "edge-2", "edge-3"} {
		args := p.Services[name].Command
		if adv := argValues(args, "advertise"); len(adv) != 1 || adv[0] != "http://"+name+":8081" {
			t.Errorf("%s: --advertise %v", name, adv)
		}
		if len(argValues(args, "join")) != 1 {
			t.Errorf("%s: no --join", name)
		}
	}
}

// The shell's variables reach the file the way compose interpolates them.
func TestComposeEnvironmentOverrides(t *testing.T) {
	p := loadCompose(t, map[string]string{"LIVECDN_GOSSIP_KEY": "b3BlcmF0b3Ita2V5LTE2Qg==", "LIVECDN_LADDER": "passthrough"})
	if got := *p.Services["edge-2"].Environment["LIVECDN_GOSSIP_KEY"]; got != "b3BlcmF0b3Ita2V5LTE2Qg==" {
		t.Errorf("gossip key not taken from the environment: %q", got)
	}
	if got := argValues(p.Services["origin"].Command, "ladder"); len(got) != 1 || got[0] != "passthrough" {
		t.Errorf("--ladder %v", got)
	}
}

// The loader is strict: a misspelt key fails, so TestCompose can fail.
func TestComposeLoaderRejectsUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  a:\n    image: x\n    comand: [y]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	details, err := loader.LoadConfigFiles(context.Background(), []string{file}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loader.LoadWithContext(context.Background(), *details, func(o *loader.Options) { o.SetProjectName("x", true) }); err == nil {
		t.Fatal("compose-go accepted an unknown key")
	}
}
