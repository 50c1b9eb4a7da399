// Package ring owns data placement and cluster membership for quorumkv.
//
// It has two halves:
//
//   - A pure, deterministic core: ClusterConfig (the cluster constants Q
//     partitions and N replicas), Ring (partition → owner map and the
//     precomputed preference and fallback lists), and Doc (the small,
//     versioned member document merged by per-member max version). Every
//     node that holds the same member set computes the same Ring; nothing
//     in the core does I/O, reads clocks or starts goroutines.
//
//   - The edge: Membership runs hashicorp/memberlist for liveness and to
//     gossip the member Doc (push-pull for the whole document, broadcasts
//     for per-member changes), persists the Doc through a DocStore, and
//     swaps in a new Ring whenever the ring member set changes. It joins
//     its fixed seeds and what its SeedSources return (DNS names, peers on
//     the LAN: package discovery) at start and at every re-join round, and
//     with BootstrapExpect forms a new cluster of nodes that all have
//     seeds (bootstrap.go).
//
// Membership is not liveness: a node that is down stays in the ring (its
// writes go to fallbacks as hints); only join/leave/remove change the ring.
//
// Placement: partition = xxhash64(GroupOf(key)) mod Q, where GroupOf is the
// text inside a key's first non-empty `{…}` (the Redis Cluster hash tag)
// or the whole key. Owners come from
// buraksezer/consistent v1.0.0 (bounded load), post-processed
// deterministically so that (a) every node owns ⌊Q/M⌋ or ⌈Q/M⌉ partitions
// and (b) no node owns two partitions closer than N apart on the partition
// circle (Riak's target_n_val). With (b) the preference list of p is simply
// the owners of p … p+N-1, so replica load is N × owned load. The placement
// algorithm is part of ClusterConfig.Hash, so nodes that would place data
// differently refuse to form one cluster.
//
// The package has no package-level mutable state.
package ring
