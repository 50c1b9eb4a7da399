package api

// MaxMessageSize is the largest message a node or the Go client accepts or
// sends (gRPC's default of 4 MiB would refuse a key with a few 1 MiB
// siblings, or a batch of a few 1 MiB puts). Senders keep batches near
// BatchBytes, so only a single large object comes close to it.
const MaxMessageSize = 256 << 20

// BatchBytes is the size at which a sender closes a batch of operations or
// results (a batch always takes at least one).
const BatchBytes = 4 << 20
