// Package node wires one quorumkv server together: the Pebble replica, ring
// membership over memberlist, the coordinator, the peer transport (package
// peer), partition transfer on ring changes, and the gRPC services (KV,
// Replica, Admin, grpc.health.v1 and reflection) that turn requests into
// calls on them (errors become gRPC statuses through peer.ToStatus). It
// owns the server's lifecycle (start, graceful drain on Stop).
package node
