package paxos

import "slices"

// Quorum is a register's acceptor configuration: a strict majority of Old,
// and, while the partition moves (New not nil), a majority of New as well
// (joint consensus). Every quorum of one configuration meets every quorum
// of another that shares Old or New.
type Quorum struct {
	Old []string
	New []string
	// All: every acceptor must answer (the rounds collection runs).
	All bool
}

// Joint reports a moving partition.
func (q Quorum) Joint() bool { return q.New != nil }

// Acceptors returns every acceptor: Old, then the New ones not in Old.
func (q Quorum) Acceptors() []string {
	out := slices.Clone(q.Old)
	for _, n := range q.New {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Contains reports whether node is an acceptor.
func (q Quorum) Contains(node string) bool {
	return slices.Contains(q.Old, node) || slices.Contains(q.New, node)
}

// Reached reports whether the acceptors in acked form a quorum.
func (q Quorum) Reached(acked func(string) bool) bool {
	if q.All {
		return q.ReachedAll(acked)
	}
	return majority(q.Old, acked) && (!q.Joint() || majority(q.New, acked))
}

// ReachedAll reports whether every acceptor is in acked (the rounds that
// collection requires).
func (q Quorum) ReachedAll(acked func(string) bool) bool {
	for _, n := range q.Acceptors() {
		if !acked(n) {
			return false
		}
	}
	return true
}

// Lost reports whether no quorum can form without the acceptors in failed.
func (q Quorum) Lost(failed func(string) bool) bool {
	ok := func(n string) bool { return !failed(n) }
	return !q.Reached(ok)
}

// Need returns how many acknowledgements the quorum needs from Old and New
// (New: 0 unless joint).
func (q Quorum) Need() (old, new int) {
	old = len(q.Old)/2 + 1
	if q.Joint() {
		new = len(q.New)/2 + 1
	}
	return old, new
}

func majority(set []string, acked func(string) bool) bool {
	n := 0
	for _, m := range set {
		if acked(m) {
			n++
		}
	}
	return n > len(set)/2
}
