// Package replica owns one node's local replica: the sibling sets of the keys
// it stores, kept in Pebble, the node identity that names this replica
// incarnation, and the layout of every key in the node's Pebble instance.
//
// Every mutation is a read-modify-write under a per-key (striped) lock:
// Coordinate mints a new dot for a client write (the node is the key's
// coordinator), Apply merges a sibling set that arrived from elsewhere
// (replication, read repair, hints, anti-entropy) with vclock.Sync and never
// mints a dot for a value. Writes are fsynced by default; concurrent writers
// share a group commit.
//
// # Key space
//
// One Pebble instance per node holds the data and every piece of durable
// node state, so wiping the data directory wipes them together. This
// package chooses every prefix (keys.go); other packages get a [Space]
// for theirs (Store.Hints, Store.TransferState) and never name a prefix.
// Integers are big-endian.
//
//	d/<partition:u16>/<segment:u16>/<key>  the key's sibling set (encoded vclock.Clock)
//	t/<partition:u16>/<key>                tombstone index: unix ns the key's
//	                                       tombstones-only state last changed
//	c/<partition:u16>/<seq:u64>            change log: the key each change wrote (changelog.go)
//	l/<partition:u16>/<key>                lease index: the lease keys held (leases.go)
//	s/logseq/<partition:u16>               a dropped partition's last change log sequence (u64)
//	h/<target> 0x00 <seq:u64>              a hint for replica target (package hintedhandoff)
//	s/identity                             this incarnation's node and incarnation id (JSON)
//	s/epoch                                the per-key epoch leased up to (u64)
//	s/clean                                present after a clean Close; deleted (and flushed) at Open
//	s/mode                                 "sync" or "nosync": how the last run wrote
//	s/ring                                 the ring document (package ring)
//	s/transfer/owned                       partition transfer (package node): bitmap of
//	s/transfer/pulling                     the partitions held, bitmap of those being
//	s/transfer/repairing                   pulled, bitmap of those being repaired after
//	s/transfer/gen                         lost data, the join generation the data belongs to (u64)
//
// A data key's segment is antientropy.Segment(key), so a partition is one
// contiguous range and so is each anti-entropy segment within it: a Merkle
// leaf, a partition drop and a partition scan are each one range. The
// tombstone index lets the reaper find old tombstones without scanning
// the data.
//
// Data directories written before partition transfer was so named keep its
// state under s/handoff/; TransferState moves it to s/transfer/ once, in
// one durable batch.
package replica
