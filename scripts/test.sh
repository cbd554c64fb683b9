#!/usr/bin/env bash
# Runs every check the project has: installs what is missing (ffmpeg,
# Chromium, Node.js and the browser harness' npm packages), then gofmt,
# go vet and go test -race over all packages, browser tests included.
# Arguments go to `go test` (e.g. -short, -run X, -v; package patterns
# replace ./...). Non-interactive: works under CI=true with no stdin.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	SUDO=(sudo -n)
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	export PATH="/usr/local/go/bin:$PATH"
fi

# System packages, only the missing ones.
apt_pkgs=()
if ! command -v ffmpeg >/dev/null 2>&1 || ! command -v ffprobe >/dev/null 2>&1; then
	apt_pkgs+=(ffmpeg)
fi
if [ ! -x /usr/bin/chromium ]; then
	apt_pkgs+=(chromium)
fi
if ! command -v node >/dev/null 2>&1; then
	apt_pkgs+=(nodejs)
fi
if ! command -v npm >/dev/null 2>&1; then
	apt_pkgs+=(npm)
fi
# deploy/validate: systemd-analyze verifies the units, promtool the alert rules.
if ! command -v systemd-analyze >/dev/null 2>&1; then
	apt_pkgs+=(systemd)
fi
if ! command -v promtool >/dev/null 2>&1; then
	apt_pkgs+=(prometheus)
fi
# livecdn bench compare (bench/compare's test) runs nginx and Varnish.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
	apt_pkgs+=(nginx)
fi
if ! command -v varnishd >/dev/null 2>&1 && [ ! -x /usr/sbin/varnishd ]; then
	apt_pkgs+=(varnish)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
	echo "test.sh: installing ${apt_pkgs[*]}"
	"${SUDO[@]}" apt-get update -qq
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_pkgs[@]}" </dev/null
fi

# deploy/validate renders the Helm chart with helm, built from the Go module proxy.
helm_version=v3.17.3
if ! command -v helm >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/helm" ]; then
	echo "test.sh: go install helm $helm_version"
	go install "helm.sh/helm/v3/cmd/helm@$helm_version"
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
	echo "test.sh: warning: node $(node --version) is older than playwright-core needs (20+)" >&2
fi

# The browser harness' npm packages, reinstalled when package-lock.json changed.
testenv="$root/internal/testenv"
lock_sum=$(sha256sum "$testenv/package-lock.json" | cut -d' ' -f1)
stamp="$testenv/node_modules/.livecdn-lock-sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
	echo "test.sh: npm ci in internal/testenv"
	(cd "$testenv" && npm ci --no-audit --no-fund --loglevel=error </dev/null)
	echo "$lock_sum" >"$stamp"
fi

# The S3-compatible server the archive tests start (versitygw, posix
# backend), only when missing; internal/testenv finds it in GOPATH/bin.
if ! command -v versitygw >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/versitygw" ]; then
	echo "test.sh: go install versitygw"
	go install github.com/versity/versitygw/cmd/versitygw@v1.7.0 </dev/null
fi

echo "test.sh: gofmt"
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 -r gofmt -l)
if [ -n "$unformatted" ]; then
	echo "test.sh: gofmt needed on:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "test.sh: go vet"
go vet ./...

pkgs=(./...)
for arg in "$@"; do
	case "$arg" in
	./* | github.com/*) pkgs=() ;;
	esac
done
echo "test.sh: go test"
go test -race -timeout 30m "$@" "${pkgs[@]}"
# Load tests shrink under the race detector; run them once more at full size
# (and the emulator's memory test, which has no meaning under it).
echo "test.sh: go test (load tests, no race detector)"
go test -timeout 20m -run 'Load|FlashCrowd|Blocking2000|Slowloris|MemoryPerViewer' "$@" ./edge/... ./bench/scenario/
