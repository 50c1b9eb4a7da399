// Package httpadmin serves a node's admin HTTP port: Prometheus metrics
// (/metrics), the liveness and readiness probes (/livez, /readyz, the split
// etcd uses, so TLS on the gRPC port never breaks a probe) and the Go
// profiler (/debug/pprof/). It owns the HTTP side only; the node supplies
// its readiness and its metrics registry.
package httpadmin
