// Package replica owns one node's local replica: the sibling sets of the keys
// it stores, kept in Pebble, and the node identity that names this replica
// incarnation.
//
// Every mutation is a read-modify-write under a per-key (striped) lock:
// Coordinate mints a new dot for a client write (the node is the key's
// coordinator), Apply merges a sibling set that arrived from elsewhere
// (replication, read repair, hints, anti-entropy) with vclock.Sync and never
// mints a dot for a value. Writes are fsynced by default; concurrent writers
// share a group commit.
//
// Key space (one Pebble instance per node):
//
//	d/<partition:be16>/<key>  encoded vclock.Clock
//	s/<name>                  node state (identity, epoch lease, ring document)
package replica
