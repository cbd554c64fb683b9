package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/livecdn/livecdn/internal/testenv"
)

// systemdUnits are the unit files and the subcommand each one runs.
var systemdUnits = map[string]string{"livecdn-origin.service": "origin", "livecdn-edge.service": "edge"}

// unitInstallPath is where the units expect the binary.
const unitInstallPath = "/usr/local/bin/livecdn"

// verifyUnit runs systemd-analyze verify on unit text, with ExecStart's
// binary pointed at the test build (verify checks that it exists); it
// returns what systemd-analyze printed, which is empty for a clean unit:
// unknown keys are only warnings on its output, not a failing exit code.
func verifyUnit(t *testing.T, name, text string) (string, error) {
	t.Helper()
	sa := testenv.NeedCommand(t, "systemd-analyze")
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, unitInstallPath, testenv.Binary(t))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, "verify", path)
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_COLOR=0", "SYSTEMD_PAGER=")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestSystemdUnits(t *testing.T) {
	for name, sub := range systemdUnits {
		t.Run(name, func(t *testing.T) {
			text := string(readFile(t, filepath.Join("systemd", name)))
			if out, err := verifyUnit(t, name, text); err != nil || out != "" {
				t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
			}
			keys := unitKeys(text)
			for key, want := range map[string]string{
				"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
				"KillSignal": "SIGTERM", "CapabilityBoundingSet": "",
			} {
				if got, ok := keys[key]; !ok || got[0] != want {
					t.Errorf("%s=%v, want %q", key, got, want)
				}
			}
			if len(keys["StateDirectory"]) == 0 {
				t.Error("no StateDirectory")
			}
			if got := keys["AmbientCapabilities"]; len(got) > 0 && got[0] != "" {
				t.Errorf("AmbientCapabilities=%v without a port below 1024", got)
			}
			for _, key := range []string{"ExecStart", "ExecReload"} {
				for _, line := range keys[key] {
					f := strings.Fields(line)
					if len(f) < 2 || f[0] != unitInstallPath {
						t.Errorf("%s=%s: want %s <command> …", key, line, unitInstallPath)
						continue
					}
					c := f[1]
					if key == "ExecStart" && c != sub {
						t.Errorf("ExecStart runs livecdn %s, want %s", c, sub)
					}
					checkArgs(t, name+" "+key, c, f[2:])
				}
			}
			// LIVECDN_ variables the unit's comments suggest for its EnvironmentFile.
			for _, m := range regexp.MustCompile(`LIVECDN_([A-Z_]+)=`).FindAllStringSubmatch(text, -1) {
				checkArgs(t, name+" comment", sub, []string{"--" + strings.ToLower(strings.ReplaceAll(m[1], "_", "-"))})
			}
		})
	}
}

// systemd-analyze verify really reads the units: a misspelt key is reported.
func TestSystemdVerifyCatchesTypos(t *testing.T) {
	text := strings.Replace(string(readFile(t, "systemd/livecdn-edge.service")), "NoNewPrivileges=", "NoNewPrivilegs=", 1)
	if out, _ := verifyUnit(t, "livecdn-edge.service", text); !strings.Contains(out, "NoNewPrivilegs") {
		t.Fatalf("systemd-analyze verify did not report a misspelt key: %q", out)
	}
}

// unitKeys returns each Key=value of a unit file, in order, comments dropped.
func unitKeys(text string) map[string][]string {
	keys := map[string][]string{}
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == ';' || l[0] == '[' {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok {
			keys[k] = append(keys[k], v)
		}
	}
	return keys
}
