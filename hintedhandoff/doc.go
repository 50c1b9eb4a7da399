// Package hintedhandoff keeps durable hints: sibling sets that a replica of a
// key did not acknowledge, held by the coordinator (or by the fallback node
// that took the write in a sloppy quorum) until the replica is seen alive
// again, then replayed to it in order, rate-limited, with backoff, and deleted
// only after it acknowledges.
//
// Hints live in the key space the node gives the store (Config.KV: the
// replica's hint space, in the node's Pebble instance), keyed by target and
// sequence number. Per target the store is bounded: a count cap, a byte
// cap, and a window — once a target's oldest pending hint is older than the
// window, new hints for it are not stored (anti-entropy repairs instead). A
// refused hint never fails or blocks the client write it came from.
//
// Replay is driven by ReplayOnce, which takes its time from a Clock, so tests
// run it with a fake clock and no sleeps; Run calls it on a ticker.
package hintedhandoff
