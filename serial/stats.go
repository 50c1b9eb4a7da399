package serial

import "sync/atomic"

// Stats are a proposer's counters since it started.
type Stats struct {
	// Rounds: rounds started; FastRounds: those that skipped the prepare
	// (the 1-RTT path); ChosenRounds: those a quorum accepted.
	Rounds, FastRounds, ChosenRounds uint64
	// ReadsAtPrepare: chosen rounds of reads that ended at their prepare
	// (no accept).
	ReadsAtPrepare uint64
	// Retries: rounds started after a round of the same operations failed.
	Retries uint64
	// Ops: operations submitted; BatchedOps: operations decided by a round
	// that decided others too.
	Ops, BatchedOps uint64
	// Unknown, Contended and Unavailable: operations that ended with
	// ErrOutcomeUnknown, ErrContended or an *UnavailableError.
	Unknown, Contended, Unavailable uint64
	// Breaches: rounds that met one ballot with two states (an invariant
	// broken; each is logged at error level).
	Breaches uint64
}

// counters are Stats as atomics.
type counters struct {
	rounds, fastRounds, chosenRounds, retries        atomic.Uint64
	ops, batchedOps, unknown, contended, unavailable atomic.Uint64
	breaches, readsAtPrepare                         atomic.Uint64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Rounds: c.rounds.Load(), FastRounds: c.fastRounds.Load(), ChosenRounds: c.chosenRounds.Load(),
		Retries: c.retries.Load(), Ops: c.ops.Load(), BatchedOps: c.batchedOps.Load(),
		Unknown: c.unknown.Load(), Contended: c.contended.Load(), Unavailable: c.unavailable.Load(),
		Breaches: c.breaches.Load(), ReadsAtPrepare: c.readsAtPrepare.Load(),
	}
}
