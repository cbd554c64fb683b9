#!/usr/bin/env bash
# Renders the plain manifests (livecdn.yaml) from the Helm chart, for
# clusters without Helm: kubectl create namespace livecdn && kubectl apply -n livecdn -f livecdn.yaml.
# The gossip key comes from a Secret you create (see the file's header), so
# the rendering is deterministic; deploy/validate checks it is up to date.
set -euo pipefail
cd "$(dirname "$0")"
helm=${HELM:-helm}
command -v "$helm" >/dev/null 2>&1 || helm="$(go env GOPATH)/bin/helm"
{
	echo '# Rendered from deploy/helm/livecdn by deploy/kubernetes/render.sh; do not edit.'
	echo '# Create the gossip key first:'
	echo '#   kubectl -n livecdn create secret generic livecdn-gossip --from-literal=key="$(head -c 32 /dev/urandom | base64)"'
	"$helm" template livecdn ../helm/livecdn --namespace livecdn --kube-version 1.31.0 \
		--set gossip.existingSecret=livecdn-gossip
} >livecdn.yaml
