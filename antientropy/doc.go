// Package antientropy owns active anti-entropy between the replicas of a
// partition (docs/design.md, Anti-entropy; docs/causality.md §4.3–4.4):
// Tictac-style (Riak) incremental Merkle trees and the exchange that compares
// two replicas' trees and repairs the keys that differ.
//
// The package owns:
//
//   - the hashing contract: [Segment] (which of the [Segments] segments of
//     its partition a key belongs to) and [LeafHash] (the hash of a key and
//     the canonical encoding of its clock);
//   - [Tree], one partition's tree: segment hashes, [Branches] branch hashes
//     and a root, all XOR-combined so that a write changes the tree in O(1)
//     ([Tree.Update]) without rereading its neighbours;
//   - [Trees], the concurrency-safe set of trees of one node, with start-up
//     and background rebuilds that do not lose concurrent writes;
//   - the pure diff helpers [DiffBranches], [DiffSegments] and [DiffKeys];
//   - [Exchange], the exchange driver, over the small interfaces [Local]
//     (this node's replica) and [Peer] (the other replica, remote).
//
// It does not own storage, transport, scheduling or rate limiting: the
// replica maintains the trees on every write and implements [Local]; the
// node implements [Peer] over gRPC, serves the peer side of it from its own
// [Trees] and replica, and decides when and how often to exchange. It moves
// encoded clocks only; the merge (vclock.Sync) happens in Local.Apply and
// in the peer's Push.
//
// # Contract for the replica
//
// Data keys must be laid out so that one segment of one partition is one
// contiguous, key-ordered range, for example
//
//	d/<partition:be16>/<segment:be16>/<key>
//
// with segment = [Segment](key). A scan of segments in ascending order then
// yields keys in the order of [CompareKeys], the order [Replica.Keys] must
// return.
//
// Every write of a key (client write, replication, read repair, hint,
// anti-entropy, partition transfer, reaping) must call [Trees.Update] with the leaf hash
// of the stored encoding before and after the write (0, or LeafHash(key,
// nil), for "absent"), in the same order as the writes of that key (under
// the replica's per-key lock). A missed or misordered update leaves the
// tree stale: exchanges then report the segment in [Result.StaleLocal] or
// [Result.StalePeer] and a [Trees.Rebuild] fixes it.
//
// The package is deterministic and starts no goroutines; [Trees] is the
// only type with a lock.
package antientropy
