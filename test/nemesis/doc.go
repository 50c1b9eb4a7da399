// Package nemesis is quorumkv's fault harness on real hosts (DESIGN.md §9,
// tier 4): `quorumkv server` processes, each in its own network namespace on
// a private bridge, driven by concurrent workloads while a seeded nemesis
// isolates, partitions, kills, pauses and skews them. After a final heal it
// waits for hints and anti-entropy, reads every key at ALL, stops the
// servers, reads every replica's own Pebble copy and compares their Merkle
// roots, and reports a JSON summary.
//
// The workloads use disjoint keys:
//
//   - unique (u-*): each key written once; an acknowledged key must read back
//     with its value.
//   - set (s-*): get → union of the siblings' elements → put with the context;
//     no acknowledged element may be lost and no element never added may
//     appear.
//   - delete (d-*): put, delete with the put's context, sometimes put again
//     with the delete's context; an acknowledged delete never comes back and
//     an acknowledged re-write is never masked.
//
// A request that failed may or may not have happened: only acknowledged
// writes are required, and failed ones are allowed either way.
//
// Run it with `make nemesis` (short CI run) or `make nemesis DURATION=5m
// SEED=n`; `make nemesis-bite` shows the checker catches a broken store.
// The harness needs root, iproute2 and iptables.
package nemesis
