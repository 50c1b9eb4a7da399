// Package httpadmin serves a node's admin HTTP port: Prometheus metrics
// (/metrics), the liveness and readiness probes (/livez, /readyz, the split
// etcd uses, so TLS on the gRPC port never breaks a probe), the ring as
// the node sees it (/ring, a self-refreshing page, and /ring.json: what
// `quorumkv ring status` shows when asked of that node) and the Go
// profiler (/debug/pprof/). It owns the HTTP side only; the node supplies
// its readiness, its view of the ring and its metrics registry.
package httpadmin
