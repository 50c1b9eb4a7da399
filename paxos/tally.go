package paxos

// Decision is where a phase stands.
type Decision uint8

const (
	// Pending: more answers are needed.
	Pending Decision = iota
	// Won: a quorum acknowledged.
	Won
	// Lost: no quorum can form any more (refusals, failures).
	Lost
)

// PrepareTally collects the answers to one prepare.
type PrepareTally struct {
	q       Quorum
	ok      map[string]PrepareReply
	failed  map[string]bool
	seen    Ballot
	current State
	cur     Ballot
	breach  bool
}

// NewPrepareTally starts a tally for q.
func NewPrepareTally(q Quorum) *PrepareTally {
	return &PrepareTally{q: q, ok: map[string]PrepareReply{}, failed: map[string]bool{}}
}

// Add records from's reply. Replies from non-acceptors and second replies
// are ignored.
func (t *PrepareTally) Add(from string, r PrepareReply) {
	if !t.q.Contains(from) || t.answered(from) {
		return
	}
	if !r.OK {
		t.failed[from] = true
		t.seen = maxBallot(t.seen, r.Seen)
		return
	}
	t.ok[from] = r
	switch c := r.Accepted.Compare(t.cur); {
	case c > 0 || len(t.ok) == 1:
		t.cur, t.current = r.Accepted, r.State
	case c == 0 && !r.Accepted.IsZero() && !r.State.Equal(t.current):
		t.breach = true
	}
}

// Fail records that from will not answer (an error, a timeout, a refusal
// for another reason than a ballot).
func (t *PrepareTally) Fail(from string) {
	if t.q.Contains(from) && !t.answered(from) {
		t.failed[from] = true
	}
}

func (t *PrepareTally) answered(n string) bool {
	_, ok := t.ok[n]
	return ok || t.failed[n]
}

// Decision reports whether the promises form a quorum, or can no longer.
func (t *PrepareTally) Decision() Decision {
	switch {
	case t.q.Reached(func(n string) bool { _, ok := t.ok[n]; return ok }):
		return Won
	case t.q.Lost(func(n string) bool { return t.failed[n] }):
		return Lost
	}
	return Pending
}

// Current returns the state accepted at the highest ballot among the
// promises (the zero State if none accepted anything) and that ballot.
func (t *PrepareTally) Current() (State, Ballot) { return t.current, t.cur }

// Breach reports promises holding the same ballot with different states.
func (t *PrepareTally) Breach() bool { return t.breach }

// NoneAccepted reports promises of which none has accepted anything.
func (t *PrepareTally) NoneAccepted() bool { return len(t.ok) > 0 && t.cur.IsZero() }

// Seen returns the highest ballot that refused the prepare (zero: none).
func (t *PrepareTally) Seen() Ballot { return t.seen }

// Promised returns the acceptors that promised.
func (t *PrepareTally) Promised() []string {
	out := make([]string, 0, len(t.ok))
	for _, n := range t.q.Acceptors() {
		if _, ok := t.ok[n]; ok {
			out = append(out, n)
		}
	}
	return out
}

// AcceptTally collects the answers to one accept.
type AcceptTally struct {
	q      Quorum
	ok     map[string]bool
	failed map[string]bool
	seen   Ballot
	breach bool
}

// NewAcceptTally starts a tally for q.
func NewAcceptTally(q Quorum) *AcceptTally {
	return &AcceptTally{q: q, ok: map[string]bool{}, failed: map[string]bool{}}
}

// Add records from's reply.
func (t *AcceptTally) Add(from string, r AcceptReply) {
	if !t.q.Contains(from) || t.ok[from] || t.failed[from] {
		return
	}
	if r.OK {
		t.ok[from] = true
		return
	}
	t.failed[from] = true
	t.seen = maxBallot(t.seen, r.Seen)
	t.breach = t.breach || r.Breach
}

// Fail records that from will not answer.
func (t *AcceptTally) Fail(from string) {
	if t.q.Contains(from) && !t.ok[from] {
		t.failed[from] = true
	}
}

// Decision reports whether the accepts form a quorum, or can no longer.
func (t *AcceptTally) Decision() Decision {
	switch {
	case t.q.Reached(func(n string) bool { return t.ok[n] }):
		return Won
	case t.q.Lost(func(n string) bool { return t.failed[n] }):
		return Lost
	}
	return Pending
}

// All reports whether every acceptor accepted.
func (t *AcceptTally) All() bool { return t.q.ReachedAll(func(n string) bool { return t.ok[n] }) }

// Seen returns the highest ballot that refused the accept.
func (t *AcceptTally) Seen() Ballot { return t.seen }

// Breach reports an acceptor holding the ballot with another state.
func (t *AcceptTally) Breach() bool { return t.breach }
