// Package vclock implements dotted version vector sets (DVVSet), the per-key
// causality-tracking type of the store, as described in docs/causality.md
// (the section numbers below are that document's).
//
// The package owns:
//
//   - the data types: [Clock] (a DVVSet), [Entry], [Sibling], [Actor], [Dot]
//     and [VV] (a causal context / version vector);
//   - the operations the store needs: [Sync] (the replica merge, §3.4),
//     [Put] (the coordinator's write, §3.5.1), the comparisons [Descends] and
//     [Less], and the accessors (Context, Values, Live, Size, ...);
//   - the canonical, versioned binary encodings of clocks and contexts
//     (§4.5) and the opaque client context token ([VV.Token], [ParseToken]).
//
// It is a pure, deterministic core: no I/O, no time, no goroutines and no
// package-level mutable state. Choosing the actor for a write (incarnations,
// per-key epochs, §6.1), locking (§6.6), sibling caps (§6.3) and reaping are
// the caller's responsibility.
//
// Anonymous values (§2.1) are deliberately not represented: a Clock
// consists of entries only (§6.7: none are ever stored), so
// reconcile/lww/new are not provided.
//
// Invariants of a valid Clock (checked by [Clock.Validate], enforced by
// [Unmarshal]):
//
//	I1  entries strictly ascending by actor (bytewise), actors non-empty
//	I2  N >= 1 for every entry
//	I3  len(Values) <= N
//
// The value at index p of an entry has dot (Actor, N-p): the values of an
// entry are always that actor's newest len(Values) dots.
//
// Every function returns fresh memory: results never alias their inputs
// and inputs are never modified. Accessors such as [Clock.Values] and
// [Clock.Live] return new slices whose byte slices alias the clock; treat
// them as read-only.
package vclock
