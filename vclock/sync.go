package vclock

// Sync merges two replicas' clocks (docs/causality.md §3.4): a sorted merge of
// the entries, with mergeEntry for actors present in both. It is the only
// operation for replication, read repair, hints, anti-entropy and partition
// transfer.
//
// For clocks that satisfy the invariants and dot uniqueness (I4) Sync is
// commutative, associative and idempotent, the empty clock is its identity,
// Less(x, y) implies Sync(x, y) == y, and Context(Sync(x, y)) is the pointwise
// maximum. If I4 is violated (two clocks hold different values for one dot,
// docs/causality.md §6.1 K2), the side with the larger counter wins and, on
// equal counters, a's values win — as in the reference implementation.
//
// The result is freshly allocated: it never aliases a or b, which are not
// modified.
func Sync(a, b Clock) Clock {
	x, y := a.Entries, b.Entries
	out := make([]Entry, 0, len(x)+len(y))
	i, j := 0, 0
	for i < len(x) && j < len(y) {
		switch c := cmpActor(x[i].Actor, y[j].Actor); {
		case c < 0:
			out = append(out, x[i])
			i++
		case c > 0:
			out = append(out, y[j])
			j++
		default:
			out = append(out, mergeEntry(x[i], y[j]))
			i++
			j++
		}
	}
	out = append(out, x[i:]...)
	out = append(out, y[j:]...)
	return deepCopy(out)
}

// mergeEntry merges two entries of the same actor (docs/causality.md §3.4). The
// result shares value slices with its inputs; callers deep-copy.
func mergeEntry(x, y Entry) Entry {
	n := max(x.N, y.N)
	base := max(entryBase(x), entryBase(y)) // highest dot known superseded
	src := x.Values
	if y.N > x.N {
		src = y.Values
	}
	if keep := n - base; uint64(len(src)) > keep {
		src = src[:keep]
	}
	return Entry{Actor: x.Actor, N: n, Values: src}
}

// entryBase is N - len(Values): the dots at or below it are known and
// superseded. Clamped at 0 for (invalid) entries with len(Values) > N.
func entryBase(e Entry) uint64 {
	l := uint64(len(e.Values))
	if l > e.N {
		return 0
	}
	return e.N - l
}
