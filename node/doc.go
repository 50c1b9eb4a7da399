// Package node wires one quorumkv server together: the Pebble replica, ring
// membership over memberlist, the coordinator, and the gRPC services (KV,
// Replica, Admin, grpc.health.v1 and reflection). It owns the server's
// lifecycle (start, graceful drain on Stop) and the one place where errors
// become gRPC status codes.
package node
