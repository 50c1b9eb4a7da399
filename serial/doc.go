// Package serial is the proposer runtime of quorumkv's linearizable
// registers (CASPaxos, one register per key) and of the locks built on them.
//
// A Proposer keeps one FIFO per register key: while a round for the key is
// in flight, new operations queue, and the next round carries every queued
// operation (up to Config.MaxBatch, and no more changes than the register's
// window of recent ids) in one paxos.Proposal. A round is driven
// by sending prepares and accepts through Acceptors (the node's transport,
// or the local acceptor edge) and feeding each reply into the proposal;
// rounds that end NotSent or Unknown are retried with a fresh ballot and a
// randomised, latency-adaptive backoff until the operation is chosen or its
// deadline passes. After a successful accept the key's state and the
// piggybacked promise are cached so the next round skips the prepare (the
// 1-RTT fast path); any failure, conflict, configuration change or floor
// drops the entry.
//
// An outcome is definite when a quorum accepted it, or when the operation
// failed before any accept carrying it left the proposer; otherwise it is
// unknown. Locks (Locks) add a per-node observation of each lock held by
// another, measured on the node's monotonic clock, so a contender takes a
// lock over only after it has seen the same renewal unchanged for
// ttl·(1+ρ).
package serial
