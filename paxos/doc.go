// Package paxos is the pure core of quorumkv's linearizable registers
// (CASPaxos, one register per key): ballots, the acceptor's rules, the
// proposer's tallies of promises and accepts under plain or joint quorums,
// the closed set of change functions (compare-and-set, delete, increment,
// fenced writes, lock grants), the per-register window of recent operation
// ids, the fast-path cache and the binary encoding of an acceptor's record.
//
// Nothing here does I/O, reads a clock or starts a goroutine: the node
// persists records (fsynced before any reply), sends the messages, and
// supplies the time a ballot is made from. docs/design.md ("Registers")
// describes the protocol as built.
package paxos
