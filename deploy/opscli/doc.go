// Package opscli is the logic behind the operator commands `livecdn status`,
// `livecdn drain` and `livecdn probe`: it reads a running cluster from the
// nodes' own endpoints (GET /cluster, /metrics, /healthz) and asks a node to
// drain (POST /admin/drain). It speaks HTTP only and imports no server
// package, so it works against any livecdn version that keeps that contract.
package opscli
