// Package validate checks the deployment files under deploy/ with the real
// parsers of the tools that consume them, since no container runtime or
// Kubernetes cluster can run where the tests run: the Helm chart is rendered
// by helm and every manifest decoded strictly into the k8s.io/api types, the
// compose file is loaded by compose-go, the systemd units go through
// systemd-analyze verify, the alert rules through promtool, and every metric
// the dashboard and the alerts query is compared with what a running origin
// and edge export. Every command line in those files is checked against the
// flags the livecdn binary really has. The package has tests only.
package validate
