package paxos

import "testing"

// TestRetryPastTheWindow: a retried change the register does not
// remember is applied only when the register remembers every change since
// the retry's base, or when its own version condition tells; otherwise it
// is Forgotten and changes nothing (at most once past the window).
func TestRetryPastTheWindow(t *testing.T) {
	var s State
	for i := range 10 {
		s, _ = Apply(s, Op{Kind: OpIncrement, By: 1, ID: []byte{byte(i)}}, 4)
	}
	// s is at version 10 and remembers versions 7..10.
	incr := Op{Kind: OpIncrement, By: 1, ID: []byte("late"), Retry: true}
	for _, tc := range []struct {
		name    string
		op      Op
		want    Outcome
		changed bool
	}{
		{"base unknown", incr, Forgotten, false},
		{"base too old", withBase(incr, 5), Forgotten, false},
		{"base covered", withBase(incr, 6), Applied, true},
		{"not a retry", Op{Kind: OpIncrement, By: 1, ID: []byte("new")}, Applied, true},
		{"version condition tells", Op{Kind: OpSet, Value: []byte("x"), HasVersion: true, Version: 3, ID: []byte("c"), Retry: true}, ConditionFailed, false},
		{"remembered", Op{Kind: OpIncrement, By: 1, ID: []byte{9}, Retry: true}, Applied, false},
	} {
		next, res := Apply(s, tc.op, 4)
		if res.Outcome != tc.want || (next.Version != s.Version) != tc.changed {
			t.Errorf("%s: outcome %v, version %d → %d", tc.name, res.Outcome, s.Version, next.Version)
		}
	}
}

func withBase(op Op, base uint64) Op {
	op.RetryBase, op.RetryBaseKnown = base, true
	return op
}

// TestRetryRemembered: a retried change whose id the register does not
// hold is known never to have applied (Remembered) only when the register
// holds every id since the retry's base — the version its condition names
// (it could only have applied right after it), or the base the retry
// carries; a failed condition is then a definite answer, and otherwise it
// may hide an earlier try's success.
func TestRetryRemembered(t *testing.T) {
	var s State
	for i := range 10 {
		s, _ = Apply(s, Op{Kind: OpIncrement, By: 1, ID: []byte{byte(i)}}, 4)
	}
	// s is at version 10 and remembers versions 7..10.
	cas := func(version uint64) Op {
		return Op{Kind: OpSet, Value: []byte("x"), HasVersion: true, Version: version, ID: []byte("c"), Retry: true}
	}
	absent := Op{Kind: OpSet, Value: []byte("x"), ExpectAbsent: true, ID: []byte("a"), Retry: true}
	for _, tc := range []struct {
		name       string
		op         Op
		remembered bool
	}{
		{"version names a covered base", cas(6), true},
		{"version names a base too old", cas(5), false},
		{"version beats a carried base too old", withBase(cas(6), 2), true},
		{"carried base covered", withBase(absent, 6), true},
		{"carried base too old", withBase(absent, 5), false},
		{"not a retry", Op{Kind: OpSet, Value: []byte("x"), HasVersion: true, Version: 6, ID: []byte("c")}, false},
		// The register is not past the version the change names: a copy
		// of it sent to another proposer can still apply at version 12.
		{"version ahead, a copy may be elsewhere", cas(11), false},
		// Only this proposer's own superseded rounds carried it.
		{"version ahead, own rounds only", withBase(cas(11), 10), true},
	} {
		_, res := Apply(s, tc.op, 4)
		if res.Outcome == Applied || res.Remembered != tc.remembered {
			t.Errorf("%s: outcome %v, remembered %v; want not applied, remembered %v", tc.name, res.Outcome, res.Remembered, tc.remembered)
		}
	}
}
