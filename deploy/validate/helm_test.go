package validate

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// kubeVersion is what the chart is rendered for (its kubeVersion is >= 1.30).
const kubeVersion = "1.31.0"

// manifests is a rendered chart decoded into the Kubernetes API types.
type manifests struct {
	statefulSets    map[string]*appsv1.StatefulSet
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	secrets         map[string]*corev1.Secret
	pdbs            map[string]*policyv1.PodDisruptionBudget
	hpas            map[string]*autoscalingv2.HorizontalPodAutoscaler
	serviceMonitors map[string]*monitoringv1.ServiceMonitor
}

// helmTemplate renders the chart with extra `helm template` arguments.
func helmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	full := append([]string{"template", "livecdn", filepath.Join(deployDir(), "helm", "livecdn"),
		"--namespace", "livecdn", "--kube-version", kubeVersion}, args...)
	cmd := exec.Command(helmPath(t), full...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr.String())
	}
	return out
}

// decodeStrict splits a multi-document YAML stream and decodes each document
// into its k8s.io/api type; unknown fields, unknown kinds and duplicate keys fail.
func decodeStrict(t *testing.T, stream []byte) *manifests {
	t.Helper()
	m, err := decodeManifests(stream)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeManifests is decodeStrict returning its error.
func decodeManifests(stream []byte) (*manifests, error) {
	m := &manifests{
		statefulSets: map[string]*appsv1.StatefulSet{}, deployments: map[string]*appsv1.Deployment{},
		services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{},
		pdbs: map[string]*policyv1.PodDisruptionBudget{}, hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{},
		serviceMonitors: map[string]*monitoringv1.ServiceMonitor{},
	}
	for i, doc := range strings.Split("\n"+string(stream), "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			return nil, fmt.Errorf("document %d: %v\n%s", i, err, doc)
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 StatefulSet":
			o := &appsv1.StatefulSet{}
			obj, m.statefulSets[head.Metadata.Name] = o, o
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			obj, m.deployments[head.Metadata.Name] = o, o
		case "v1 Service":
			o := &corev1.Service{}
			obj, m.services[head.Metadata.Name] = o, o
		case "v1 Secret":
			o := &corev1.Secret{}
			obj, m.secrets[head.Metadata.Name] = o, o
		case "policy/v1 PodDisruptionBudget":
			o := &policyv1.PodDisruptionBudget{}
			obj, m.pdbs[head.Metadata.Name] = o, o
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			obj, m.hpas[head.Metadata.Name] = o, o
		case "monitoring.coreos.com/v1 ServiceMonitor":
			o := &monitoringv1.ServiceMonitor{}
			obj, m.serviceMonitors[head.Metadata.Name] = o, o
		default:
			return nil, fmt.Errorf("document %d: unexpected %s %s", i, head.APIVersion, head.Kind)
		}
		// The API server's own decoder: case-sensitive keys (encoding/json
		// would accept clusterIp for clusterIP), no unknown or duplicate fields.
		js, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s %s: %v", head.Kind, head.Metadata.Name, err)
		}
		strict, err := kjson.UnmarshalStrict(js, obj)
		if err != nil || len(strict) > 0 {
			return nil, fmt.Errorf("%s %s: strict decode: %v %v", head.Kind, head.Metadata.Name, err, strict)
		}
	}
	return m, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestHelmLint(t *testing.T) {
	out, err := exec.Command(helmPath(t), "lint", "--strict", "--kube-version", kubeVersion,
		filepath.Join(deployDir(), "helm", "livecdn")).CombinedOutput()
	if err != nil {
		t.Fatalf("helm lint --strict: %v\n%s", err, out)
	}
}

// The committed plain manifests are exactly what render.sh makes from the chart.
func TestRenderedManifestsUpToDate(t *testing.T) {
	want := helmTemplate(t, "--set", "gossip.existingSecret=livecdn-gossip")
	got := readFile(t, "kubernetes/livecdn.yaml")
	// Drop the file's header comment, which render.sh prints before helm's output.
	if i := bytes.Index(got, []byte("\n---")); i >= 0 {
		got = got[i+1:]
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("deploy/kubernetes/livecdn.yaml is stale: run deploy/kubernetes/render.sh")
	}
	m := decodeStrict(t, got)
	if len(m.secrets) != 0 {
		t.Errorf("plain manifests carry a Secret; the gossip key must come from the one the operator creates")
	}
	checkChart(t, m, chartValues{edgeHPA: true, shields: true})
}

// chartValues says which optional parts a rendering should have.
type chartValues struct {
	edgeHPA, shields, serviceMonitor, generatedSecret bool
	edgeServiceType                                   corev1.ServiceType
}

func TestHelmRenderings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want chartValues
	}{
		{"defaults", nil, chartValues{edgeHPA: true, shields: true, generatedSecret: true}},
		{"fixed replicas, NodePort, ServiceMonitor, keys and signing", []string{
			"--set", "edge.autoscaling.enabled=false", "--set", "edge.replicas=5",
			"--set", "edge.service.type=NodePort", "--set", "edge.service.nodePort=30081",
			"--set", "serviceMonitor.enabled=true", "--set", "origin.keysSecret=publish-keys",
			"--set", "edge.signKeySecret=viewer-sign", "--set", "edge.zone=eu-west-1a", "--set", "adminTokenSecret=admin",
			"--set", "gossip.key=bGl2ZWNkbi1jb21wb3NlLWRldi1rZXktMzJieXRlcyE=",
		}, chartValues{shields: true, serviceMonitor: true, generatedSecret: true, edgeServiceType: corev1.ServiceTypeNodePort}},
		{"no shield tier", []string{"--set", "shield.enabled=false", "--set", "gossip.existingSecret=k"},
			chartValues{edgeHPA: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkChart(t, decodeStrict(t, helmTemplate(t, tc.args...)), tc.want)
		})
	}
}

// checkChart checks what the operations issue requires of the rendered objects.
func checkChart(t *testing.T, m *manifests, want chartValues) {
	t.Helper()
	origin := m.statefulSets["livecdn-origin"]
	if origin == nil {
		t.Fatal("no origin StatefulSet")
	}
	if len(origin.Spec.VolumeClaimTemplates) != 1 || origin.Spec.VolumeClaimTemplates[0].Name != "archive" {
		t.Errorf("origin: want one PVC template named archive, got %+v", origin.Spec.VolumeClaimTemplates)
	}
	oc := origin.Spec.Template.Spec.Containers[0]
	checkArgs(t, "origin StatefulSet", "origin", oc.Args)
	checkEnv(t, "origin StatefulSet", "origin", oc.Env)
	checkProbes(t, "origin", oc, "http")
	if m.services[origin.Spec.ServiceName] == nil {
		t.Errorf("origin: governing Service %q missing", origin.Spec.ServiceName)
	}

	edge := m.deployments["livecdn-edge"]
	if edge == nil {
		t.Fatal("no edge Deployment")
	}
	pods := []struct {
		name string
		spec corev1.PodTemplateSpec
	}{{"edge", edge.Spec.Template}}
	if shield := m.statefulSets["livecdn-shield"]; want.shields != (shield != nil) {
		t.Errorf("shield StatefulSet present = %v, want %v", shield != nil, want.shields)
	} else if shield != nil {
		pods = append(pods, struct {
			name string
			spec corev1.PodTemplateSpec
		}{"shield", shield.Spec.Template})
		if m.pdbs["livecdn-shield"] == nil {
			t.Error("no shield PodDisruptionBudget")
		}
	}
	gossip := m.services["livecdn-gossip"]
	if gossip == nil || gossip.Spec.ClusterIP != corev1.ClusterIPNone || !gossip.Spec.PublishNotReadyAddresses {
		t.Fatalf("gossip Service must be headless and publish not-ready addresses: %+v", gossip)
	}
	for _, p := range pods {
		c := p.spec.Spec.Containers[0]
		checkArgs(t, p.name, "edge", c.Args)
		checkEnv(t, p.name, "edge", c.Env)
		checkProbes(t, p.name, c, "http")
		joins := argValues(c.Args, "join")
		if len(joins) != 1 || !strings.HasPrefix(joins[0], "livecdn-gossip.livecdn.svc.cluster.local:") {
			t.Errorf("%s: --join %v, want the gossip headless Service's DNS name", p.name, joins)
		}
		if !selects(gossip.Spec.Selector, p.spec.Labels) {
			t.Errorf("%s: pods are not selected by the gossip Service", p.name)
		}
		if got := argValues(c.Args, "role"); len(got) != 1 || got[0] != p.name {
			t.Errorf("%s: --role %v", p.name, got)
		}
		var keyFromSecret bool
		for _, e := range c.Env {
			if e.Name == "LIVECDN_GOSSIP_KEY" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				keyFromSecret = true
				if want.generatedSecret && m.secrets[e.ValueFrom.SecretKeyRef.Name] == nil {
					t.Errorf("%s: gossip key Secret %q not rendered", p.name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
		}
		if !keyFromSecret {
			t.Errorf("%s: LIVECDN_GOSSIP_KEY does not come from a Secret", p.name)
		}
		checkDrain(t, p.name, p.spec.Spec, c)
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources unset: %+v", p.name, c.Resources)
		}
	}
	if edge.Spec.Strategy.RollingUpdate == nil || edge.Spec.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 0 {
		t.Errorf("edge rollout may take an edge away before its replacement is ready: %+v", edge.Spec.Strategy)
	}
	if m.pdbs["livecdn-edge"] == nil {
		t.Error("no edge PodDisruptionBudget")
	}
	if hpa := m.hpas["livecdn-edge"]; want.edgeHPA != (hpa != nil) {
		t.Errorf("edge HPA present = %v, want %v", hpa != nil, want.edgeHPA)
	} else if hpa != nil {
		if edge.Spec.Replicas != nil {
			t.Error("edge Deployment sets replicas while the HPA owns them")
		}
		if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Resource == nil || hpa.Spec.Metrics[0].Resource.Name != corev1.ResourceCPU {
			t.Errorf("edge HPA does not scale on CPU: %+v", hpa.Spec.Metrics)
		}
	} else if edge.Spec.Replicas == nil || *edge.Spec.Replicas != 5 {
		t.Errorf("edge replicas %v, want 5", edge.Spec.Replicas)
	}
	viewers := m.services["livecdn-edge"]
	wantType := want.edgeServiceType
	if wantType == "" {
		wantType = corev1.ServiceTypeLoadBalancer
	}
	if viewers == nil || viewers.Spec.Type != wantType || !selects(viewers.Spec.Selector, edge.Spec.Template.Labels) {
		t.Errorf("viewer Service: want type %s selecting the edges, got %+v", wantType, viewers)
	}
	if sm := m.serviceMonitors["livecdn"]; want.serviceMonitor != (sm != nil) {
		t.Errorf("ServiceMonitor present = %v, want %v", sm != nil, want.serviceMonitor)
	} else if sm != nil {
		scraped := 0
		for _, s := range m.services {
			if selects(sm.Spec.Selector.MatchLabels, s.Labels) {
				scraped++
			}
		}
		if scraped != 2 { // the origin's Service and the gossip Service (every edge and shield once)
			t.Errorf("ServiceMonitor selects %d Services, want 2", scraped)
		}
	}
}

// checkEnv checks that every LIVECDN_ variable names a flag of livecdn sub.
func checkEnv(t *testing.T, where, sub string, env []corev1.EnvVar) {
	t.Helper()
	for _, e := range env {
		if name, ok := strings.CutPrefix(e.Name, "LIVECDN_"); ok {
			checkArgs(t, where+" env", sub, []string{"--" + strings.ToLower(strings.ReplaceAll(name, "_", "-"))})
		}
	}
}

// checkProbes wants readiness on /readyz and liveness on /healthz at the named port.
func checkProbes(t *testing.T, name string, c corev1.Container, port string) {
	t.Helper()
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		path  string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != port {
			t.Errorf("%s: %s probe must GET %s on port %s: %+v", name, p.kind, p.path, port, p.probe)
		}
	}
}

// checkDrain wants a preStop pause and a grace period longer than it plus --drain.
func checkDrain(t *testing.T, name string, pod corev1.PodSpec, c corev1.Container) {
	t.Helper()
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("%s: no preStop sleep", name)
		return
	}
	drains := argValues(c.Args, "drain")
	if len(drains) != 1 {
		t.Errorf("%s: --drain %v", name, drains)
		return
	}
	d, err := time.ParseDuration(drains[0])
	if err != nil {
		t.Errorf("%s: --drain %q: %v", name, drains[0], err)
		return
	}
	need := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds)*time.Second + d
	if pod.TerminationGracePeriodSeconds == nil || time.Duration(*pod.TerminationGracePeriodSeconds)*time.Second <= need {
		t.Errorf("%s: terminationGracePeriodSeconds %v does not exceed preStop + --drain = %v", name, pod.TerminationGracePeriodSeconds, need)
	}
}

// argValues returns the values of --name=value arguments.
func argValues(args []string, name string) []string {
	var vs []string
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			vs = append(vs, v)
		}
	}
	return vs
}

// selects reports whether every selector label is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// decodeStrict fails on a field the API type lacks, so the chart tests can fail.
func TestDecodeStrictRejectsUnknownFields(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  clusterIp: None\n"
	_, err := decodeManifests([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "clusterIp") {
		t.Fatalf("a misspelt field (clusterIp) decoded with error %v", err)
	}
}
