// Package client is the Go client of quorumkv.
//
// Endpoints are seeds: any node serves any request. The client sends each
// request to a replica of its key (it learns the ring) and fails over to
// the next node when one cannot be reached, so it never stays stuck on a
// dead node.
//
// Nor on a frozen one: the client tracks each endpoint's responsiveness
// (operations outstanding without an answer, recent latencies). An
// endpoint that has answered nothing for a few hundred milliseconds while
// holding work is quiet, and new requests go to another node first until it
// answers again (its late answers, or a health check); one silent for a
// few tens of milliseconds is already tried after the others (lagging).
// Gets are hedged: one that has not answered after the endpoint's recent p99 is also sent to the
// next node, and the first answer wins. A write is never sent twice; one
// already on its way to a node that turns quiet fails with ErrNodeQuiet
// (it may or may not be applied, as after a timeout). See Responsiveness,
// WithResponsiveness and WithoutHedging. Failures come
// back as typed errors (ErrNotFound, *UnavailableError with the quorum
// numbers, ErrInvalidArgument, *TooManySiblingsError); the causal context
// travels as an opaque token. An operation too large to share a batch of
// the node's stream (its key, value and context past api.BatchBytes) is
// sent alone as a unary call, so a node refusing it as too large
// (ErrInvalidArgument) fails only that operation.
//
//	c, err := client.New([]string{"127.0.0.1:7101", "127.0.0.1:7102"})
//	res, err := c.Get(ctx, []byte("k"), client.WithLevel(client.Quorum))
//	_, err = c.Put(ctx, []byte("k"), []byte("v"), client.WithContext(res.Context))
//
// Registers and locks (services Serial and Locks) are linearizable: a
// register is a key space of its own, changed by compare-and-set
// (CompareAndSet, SerialDelete, Increment) and read by SerialGet. Each
// request goes to its key's preferred proposer (the first live replica) on
// the node's stream, with the KV operations (an Acquire that waits, or a
// change too large to share a batch, as a unary call). Outcomes are typed: ErrConditionFailed (with the current
// state), *FencedError, *UnavailableError (nothing applied), and
// ErrOutcomeUnknown when a change was sent and no definite answer came
// back. A change carries an op id, the same on every try, so the client
// sends it again (to the next replica when a node failed after it was
// sent, to the proposer when it answered OUTCOME_UNKNOWN) without applying
// it twice. Acquire returns a Lease with a fencing token that renews itself
// and whose Context ends when its validity does (LeaseConfig):
//
//	lease, err := c.Acquire(ctx, "jobs", "worker-1", 10*time.Second)
//	_, err = c.CompareAndSet(lease.Context(), []byte("job"), []byte("done"), client.ExpectVersion(v),
//		client.WithFence(lease.Name(), lease.Token()))
//	err = lease.Release(ctx)
package client
