package validate

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/livecdn/livecdn/internal/testenv"
)

func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(testenv.NeedCommand(t, "promtool"), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestAlertRules(t *testing.T) {
	dir := filepath.Join(deployDir(), "prometheus")
	promtool(t, dir, "check", "rules", "alerts.yml")
	// Each alert fires on the series that should trigger it, and not before.
	promtool(t, dir, "test", "rules", "alerts_test.yml")
	for _, alert := range []string{"LivecdnOriginDown", "LivecdnHitRatioLow", "LivecdnEdgeFlapping", "LivecdnIngestStalled"} {
		if !strings.Contains(string(readFile(t, "prometheus/alerts_test.yml")), "alertname: "+alert) {
			t.Errorf("alert %s has no unit test in alerts_test.yml", alert)
		}
	}
}

// The compose setup's Prometheus config is valid with the rules beside it,
// as they are mounted in the container (/etc/prometheus).
func TestComposePrometheusConfig(t *testing.T) {
	dir := t.TempDir()
	for src, dst := range map[string]string{"compose/prometheus.yml": "prometheus.yml", "prometheus/alerts.yml": "alerts.yml"} {
		if err := os.WriteFile(filepath.Join(dir, dst), readFile(t, src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	promtool(t, dir, "check", "config", "prometheus.yml")
}
