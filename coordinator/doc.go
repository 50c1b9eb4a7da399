// Package coordinator owns the quorum logic of one node: it turns a client's
// get, put or delete into requests to the key's replicas, waits for the
// consistency level the request asked for (and no longer: stragglers go on in
// the background), merges what replicas return with vclock.Sync, repairs stale
// replicas after a read, and forwards a write to a replica of the key when
// this node is not one (one hop, never re-forwarded).
//
// The arithmetic (consistency levels, quorum tracking) is pure; replicas are
// reached through the small Local and Transport interfaces the node supplies.
package coordinator
