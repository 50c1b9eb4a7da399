package paxos

import "bytes"

// applyLock evaluates the lock change functions. A grant takes the next
// token: tokens of a lock only ever increase, across releases and
// takeovers, because a released lock keeps its last token.
func applyLock(s State, op Op) (State, Result, bool) {
	l := s.Lock
	switch op.Kind {
	case OpAcquire:
		if l.Held {
			if l.Holder == op.Holder && len(op.ID) > 0 && bytes.Equal(l.HolderOp, op.ID) {
				return s, resultOf(s, Applied), false // the same grant, asked again
			}
			return s, resultOf(s, Held), false
		}
		return grant(s, op), Result{}, true
	case OpTakeover:
		if l.Held && (l.Token != op.Token || l.Renewals != op.Renewals) {
			return s, resultOf(s, Held), false
		}
		return grant(s, op), Result{}, true
	case OpRenew:
		if !l.Held || l.Token != op.Token {
			return s, resultOf(s, NotHolder), false
		}
		next := s
		next.Lock.Renewals++
		return next, Result{}, true
	case OpRelease:
		if !l.Held || l.Token != op.Token {
			return s, resultOf(s, NotHolder), false
		}
		next := s
		next.Lock = Lock{Token: l.Token}
		return next, Result{}, true
	}
	return s, resultOf(s, ConditionFailed), false
}

func grant(s State, op Op) State {
	next := s
	next.Lock = Lock{Held: true, Holder: op.Holder, HolderOp: op.ID, Token: s.Lock.Token + 1, TTLms: op.TTLms}
	return next
}
