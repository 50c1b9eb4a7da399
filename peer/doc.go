// Package peer is how a node reaches its peers: the replica pipe (batched
// applies, replica reads and Paxos prepares and accepts on a framed
// connection to the peer's port), the Paxos service's other calls,
// hints, forwarded writes and the anti-entropy exchange calls, with one
// client connection per peer. It also owns the mapping between errors and
// what crosses the wire — gRPC statuses with typed ErrorInfo reasons
// (ToStatus on the serving side, back to coordinator and replica errors on
// the calling side) and the pipe's per-item statuses — so a peer's
// replica.ErrClosed or NotReplicaError is the same error on the caller.
package peer
