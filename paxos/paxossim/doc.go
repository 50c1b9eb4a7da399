// Package paxossim is a deterministic simulator for the CASPaxos core in
// package paxos: in-memory acceptors holding paxos.Record (every write is
// persisted before its reply, so a crash loses only messages in flight),
// proposers with a BallotGen and a Cache each, a network that delays,
// drops, duplicates and reorders messages, clients whose changes the
// proposers retry with new rounds (same operation ids), ring changes
// through joint quorums, and the collection of tombstones behind a ballot
// floor.
//
// A Checker watches every step: no ballot holds two states (in a record, a
// promise or an accept), every chosen state descends from the previously
// chosen one through the recorded parents, no acceptor promises or accepts
// at or below its floor or below its promise, and every round a proposer
// reports chosen really was accepted by its quorum. After a run, the
// client history is checked for linearizability with porcupine against a
// versioned register model (unknown outcomes return at +∞), and each
// change with an operation id is counted along the final state's lineage:
// applied once when acknowledged, never when no accept of it left its
// proposer.
//
// Nothing reads a clock or starts a goroutine: a run is a function of its
// Config (seed included), and Report.Trace hashes every step so tests can
// assert that. Cluster is the same machinery driven by hand, for scripted
// scenarios.
package paxossim
