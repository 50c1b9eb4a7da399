// Package lease owns the rules of leases, the soft state a registry's
// instances live on: lease identifiers, the reserved keys a lease and its
// attachments are stored under, the record a grant writes, the table of
// renewals a replica keeps on its own monotonic clock, and the sweep that
// decides which leases expire (self-preservation and the expiry cap).
//
// Everything here is pure: times are durations on the caller's monotonic
// clock, passed in; storage, gossip and the network are the node's.
//
// The model (docs/design.md, "Leases"):
//   - A grant writes the lease's record (its ttl) under RecordKey, a key of
//     its own group, so the record and every attachment share a partition:
//     the lease's replicas.
//   - A put with a lease first writes an attachment (AttachKey), then the
//     key, then the attachment again carrying the context the put returned.
//   - Keep-alives go to the lease's replicas and need one acknowledgement;
//     each replica notes the time on its own monotonic clock (Table). No
//     renewal is written to disk: after a restart a lease counts as renewed
//     when the replica first sees its record, so expiry is late, never early.
//   - A replica whose table says ttl + grace passed (Sweep) asks the other
//     replicas; when a majority of them answer and none saw a renewal within
//     the ttl, it expires the lease: a causal delete of each attached key
//     with the context its attachment holds, so a later re-registration
//     (a write that context does not cover) survives.
package lease
