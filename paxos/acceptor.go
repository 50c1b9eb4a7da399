package paxos

// Record is an acceptor's durable state for one register: the highest
// ballot promised, and the ballot and state last accepted. An absent
// register is the zero Record.
type Record struct {
	Promise  Ballot
	Accepted Ballot
	State    State
}

// PrepareReply answers a prepare. OK: the acceptor promised the ballot and
// reports what it accepted last. Otherwise Seen is the greater ballot
// (promise, accepted or the partition's floor) that refused it.
type PrepareReply struct {
	OK       bool
	Seen     Ballot
	Accepted Ballot
	State    State
}

// AcceptReply answers an accept. Breach: the acceptor holds the same ballot
// with another state, a broken invariant (one ballot, one value) that the
// caller must count and report.
type AcceptReply struct {
	OK     bool
	Seen   Ballot
	Breach bool
}

// Prepare applies a prepare at b to rec. floor is the partition's ballot
// floor: every ballot at or below it is refused (registers removed by
// collection are absent records above no promise but the floor). write
// reports that next must be persisted (synced) before the reply is sent.
func Prepare(rec Record, floor, b Ballot) (next Record, reply PrepareReply, write bool) {
	if seen := maxBallot(rec.Promise, rec.Accepted, floor); !seen.Less(b) {
		return rec, PrepareReply{Seen: seen}, false
	}
	next = rec
	next.Promise = b
	return next, PrepareReply{OK: true, Accepted: rec.Accepted, State: rec.State}, true
}

// Accept applies an accept of state at b, with promise as the next promise
// piggybacked for the proposer's following round (zero: none). Ballots
// below the promise, at or below the floor, or below the accepted ballot
// are refused; the same ballot again with the same state is acknowledged
// (a duplicate), with another state it is a breach.
func Accept(rec Record, floor, b Ballot, state State, promise Ballot) (next Record, reply AcceptReply, write bool) {
	if !floor.Less(b) {
		return rec, AcceptReply{Seen: floor}, false
	}
	if b == rec.Accepted && !b.IsZero() {
		return acceptAgain(rec, state, promise)
	}
	if b.Less(rec.Promise) {
		return rec, AcceptReply{Seen: rec.Promise}, false
	}
	if b.Less(rec.Accepted) {
		return rec, AcceptReply{Seen: rec.Accepted}, false
	}
	next = Record{Promise: maxBallot(b, promise), Accepted: b, State: state}
	return next, AcceptReply{OK: true}, true
}

// acceptAgain answers an accept at the ballot rec already accepted: with
// the same state it is a duplicate (acknowledged even after the promise it
// piggybacked, or a later one, was stored: the acceptor did accept it);
// with another state it is a breach.
func acceptAgain(rec Record, state State, promise Ballot) (Record, AcceptReply, bool) {
	if !state.Equal(rec.State) {
		return rec, AcceptReply{Seen: rec.Accepted, Breach: true}, false
	}
	if !rec.Promise.Less(promise) {
		return rec, AcceptReply{OK: true}, false
	}
	next := rec
	next.Promise = promise
	return next, AcceptReply{OK: true}, true
}
