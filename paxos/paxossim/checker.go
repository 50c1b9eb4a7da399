package paxossim

import (
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/paxos"
)

// Violation is a broken invariant: the step it was found at and what.
type Violation struct {
	Step int
	What string
}

func (v Violation) String() string { return fmt.Sprintf("step %d: %s", v.Step, v.What) }

// ballotInfo is what the checker knows of one ballot of one register: the
// state its accept carries, the ballot of the state it was computed from
// (its parent), the changes and their results, the configuration whose
// quorum decides it, and the acceptors that accepted it.
type ballotInfo struct {
	state      paxos.State
	parent     paxos.Ballot
	ops        []paxos.Op
	results    []paxos.Result
	quorum     paxos.Quorum
	acceptedBy map[string]bool
	chosen     bool
}

type registerInfo struct {
	ballots map[paxos.Ballot]*ballotInfo
	// chosen ballots, ascending.
	chosen []paxos.Ballot
	// removed: the tombstone ballot collection last removed, the parent of
	// a state computed from absent records.
	removed paxos.Ballot
}

// acceptorView is the last record the checker saw an acceptor hold for a
// register, with the floor it had then.
type acceptorView struct {
	rec   paxos.Record
	floor paxos.Ballot
}

// Checker holds the simulation's ground truth and checks the invariants
// as the acceptors and proposers act. Its findings accumulate in
// Violations; a test fails on any.
type Checker struct {
	step       int
	regs       map[string]*registerInfo
	views      map[string]map[string]acceptorView // acceptor → key → view
	violations []Violation
	window     int
}

// NewChecker returns a checker for changes applied with window recent ids.
func NewChecker(window int) *Checker {
	return &Checker{regs: map[string]*registerInfo{}, views: map[string]map[string]acceptorView{}, window: window}
}

// Violations returns the broken invariants found so far.
func (c *Checker) Violations() []Violation { return c.violations }

// Step advances the step number the findings are reported at.
func (c *Checker) Step() { c.step++ }

func (c *Checker) fail(format string, args ...any) {
	c.violations = append(c.violations, Violation{Step: c.step, What: fmt.Sprintf(format, args...)})
}

func (c *Checker) reg(key string) *registerInfo {
	r := c.regs[key]
	if r == nil {
		r = &registerInfo{ballots: map[paxos.Ballot]*ballotInfo{}}
		c.regs[key] = r
	}
	return r
}

// proposed records an accept message: b carries state, computed by
// applying ops to the state accepted at parent (parentState). Invariant 1:
// one ballot, one state. The state must be exactly the changes applied to
// the parent's state (parentKnown false: the parent could not be named,
// already reported; the state is not checked against it).
func (c *Checker) proposed(key string, b paxos.Ballot, parent paxos.Ballot, parentState paxos.State, parentKnown bool, ops []paxos.Op, state paxos.State, q paxos.Quorum) {
	r := c.reg(key)
	if !parent.Less(b) && parentKnown {
		c.fail("%s: accept at %v computed from %v, not a lower ballot", key, b, parent)
	}
	want, results := paxos.ApplyAll(parentState, ops, c.window)
	if !want.Equal(state) && parentKnown {
		c.fail("%s: accept at %v carries a state that is not its changes applied to the state of %v", key, b, parent)
	}
	if old, ok := r.ballots[b]; ok {
		if !old.state.Equal(state) {
			c.fail("%s: ballot %v proposed with two states (one ballot, one value)", key, b)
		}
		return
	}
	r.ballots[b] = &ballotInfo{state: state, parent: parent, ops: ops, results: results, quorum: q, acceptedBy: map[string]bool{}}
}

// parentOf resolves the state a round adopted from its promises: the
// highest accepted ballot, or, when every promise was empty, the
// tombstone collection last removed (the zero ballot if none).
func (c *Checker) parentOf(key string, accepted paxos.Ballot) paxos.Ballot {
	if accepted.IsZero() {
		return c.reg(key).removed
	}
	return accepted
}

// stateAt returns the state proposed at b (the zero State at the zero
// ballot).
func (c *Checker) stateAt(key string, b paxos.Ballot) (paxos.State, bool) {
	if b.IsZero() {
		return paxos.State{}, true
	}
	bi, ok := c.reg(key).ballots[b]
	if !ok {
		return paxos.State{}, false
	}
	return bi.state, true
}

// holds checks a ballot and state an acceptor reports (in its record or a
// promise) against the one state proposed at that ballot.
func (c *Checker) holds(who, key string, b paxos.Ballot, s paxos.State) {
	if b.IsZero() {
		return
	}
	bi, ok := c.reg(key).ballots[b]
	switch {
	case !ok:
		c.fail("%s: %s holds ballot %v that no proposer sent", key, who, b)
	case !bi.state.Equal(s):
		c.fail("%s: %s holds ballot %v with another state than proposed (one ballot, one value)", key, who, b)
	}
}

// prepared checks one prepare at an acceptor (invariant 3) and the reply.
func (c *Checker) prepared(node, key string, before paxos.Record, floor, b paxos.Ballot, reply paxos.PrepareReply, after paxos.Record) {
	if reply.OK {
		if !floor.Less(b) || !before.Promise.Less(b) || !before.Accepted.Less(b) {
			c.fail("%s: %s promised %v at or below floor %v, promise %v or accepted %v", key, node, b, floor, before.Promise, before.Accepted)
		}
		if reply.Accepted != before.Accepted || !reply.State.Equal(before.State) {
			c.fail("%s: %s promised %v reporting another accepted state than it holds", key, node, b)
		}
		c.holds(node+"'s promise", key, reply.Accepted, reply.State)
	}
	c.recorded(node, key, after, floor)
}

// accepted checks one accept at an acceptor (invariant 3) and counts the
// acceptance toward the ballot's quorum.
func (c *Checker) accepted(node, key string, before paxos.Record, floor, b paxos.Ballot, state paxos.State, reply paxos.AcceptReply, after paxos.Record) {
	if reply.Breach {
		c.fail("%s: %s reports ballot %v accepted with another state (breach)", key, node, b)
	}
	duplicate := b == before.Accepted && state.Equal(before.State)
	if reply.OK && !duplicate {
		if !floor.Less(b) || b.Less(before.Promise) || b.Less(before.Accepted) {
			c.fail("%s: %s accepted %v at or below floor %v, below promise %v or accepted %v", key, node, b, floor, before.Promise, before.Accepted)
		}
		if after.Accepted != b || !after.State.Equal(state) {
			c.fail("%s: %s acknowledged %v without holding it", key, node, b)
		}
		c.acceptance(node, key, b)
	}
	c.recorded(node, key, after, floor)
}

// recorded checks an acceptor's record after a step: its accepted state
// is the one proposed at that ballot, and its promise and accepted ballot
// never went down (a record removed by collection is above nothing but
// the floor, which covers what it held).
func (c *Checker) recorded(node, key string, rec paxos.Record, floor paxos.Ballot) {
	c.holds(node, key, rec.Accepted, rec.State)
	vs := c.views[node]
	if vs == nil {
		vs = map[string]acceptorView{}
		c.views[node] = vs
	}
	old := vs[key]
	oldHigh := maxB(old.rec.Promise, old.rec.Accepted, old.floor)
	if newHigh := maxB(rec.Promise, rec.Accepted, floor); newHigh.Less(oldHigh) {
		c.fail("%s: %s went back from %v to %v (a promise or acceptance forgotten)", key, node, oldHigh, newHigh)
	}
	if rec.Accepted.Less(old.rec.Accepted) && !(rec.Accepted.IsZero() && !floor.Less(old.rec.Accepted)) {
		c.fail("%s: %s accepted ballot went back from %v to %v", key, node, old.rec.Accepted, rec.Accepted)
	}
	vs[key] = acceptorView{rec: rec, floor: floor}
}

func maxB(bs ...paxos.Ballot) paxos.Ballot {
	var m paxos.Ballot
	for _, b := range bs {
		if m.Less(b) {
			m = b
		}
	}
	return m
}

// acceptance counts node's acceptance of b; once b's quorum accepted, b is
// chosen and must sit in the chain of chosen ballots (invariant 2).
func (c *Checker) acceptance(node, key string, b paxos.Ballot) {
	r := c.reg(key)
	bi := r.ballots[b]
	if bi == nil {
		return // reported by holds
	}
	bi.acceptedBy[node] = true
	if bi.chosen || !bi.quorum.Reached(func(n string) bool { return bi.acceptedBy[n] }) {
		return
	}
	bi.chosen = true
	i, _ := slices.BinarySearchFunc(r.chosen, b, paxos.Ballot.Compare)
	r.chosen = slices.Insert(r.chosen, i, b)
	if i > 0 && !c.descends(key, b, r.chosen[i-1]) {
		c.fail("%s: chosen %v does not descend from the previously chosen %v (lineage %s)", key, b, r.chosen[i-1], c.lineage(key, b))
	}
	if i+1 < len(r.chosen) && !c.descends(key, r.chosen[i+1], b) {
		c.fail("%s: chosen %v does not descend from the earlier chosen %v (lineage %s)", key, r.chosen[i+1], b, c.lineage(key, r.chosen[i+1]))
	}
}

// descends reports whether anc is b or one of its ancestors.
func (c *Checker) descends(key string, b, anc paxos.Ballot) bool {
	r := c.reg(key)
	for anc.Less(b) {
		bi := r.ballots[b]
		if bi == nil {
			return false
		}
		b = bi.parent
	}
	return b == anc
}

func (c *Checker) lineage(key string, b paxos.Ballot) string {
	r := c.reg(key)
	out := b.String()
	for i := 0; i < 12 && !b.IsZero(); i++ {
		bi := r.ballots[b]
		if bi == nil {
			return out + "<-?"
		}
		b = bi.parent
		out += "<-" + b.String()
	}
	return out
}

// proposerChose checks a round a proposer reports chosen: its quorum did
// accept the ballot.
func (c *Checker) proposerChose(key string, b paxos.Ballot) {
	if bi := c.reg(key).ballots[b]; bi == nil || !bi.chosen {
		c.fail("%s: a proposer reports %v chosen, but no quorum of its configuration accepted it", key, b)
	}
}

// IsChosen reports whether a quorum accepted b.
func (c *Checker) IsChosen(key string, b paxos.Ballot) bool {
	bi := c.reg(key).ballots[b]
	return bi != nil && bi.chosen
}

// removedRecords notes that collection removed key's records holding the
// tombstone at b.
func (c *Checker) removedRecords(key string, b paxos.Ballot) {
	if r := c.reg(key); r.removed.Less(b) {
		r.removed = b
	}
}

// Applications walks the lineage of the state at b, down to the first
// state, and returns for each operation id the depths (changes counted
// from the first state) at which it was applied, not deduplicated.
func (c *Checker) Applications(key string, b paxos.Ballot) map[string][]int {
	r := c.reg(key)
	var chain []*ballotInfo
	for !b.IsZero() {
		bi := r.ballots[b]
		if bi == nil {
			c.fail("%s: lineage broken at %v", key, b)
			break
		}
		chain = append(chain, bi)
		b = bi.parent
	}
	out := map[string][]int{}
	depth := 0
	for i := len(chain) - 1; i >= 0; i-- {
		bi := chain[i]
		for j, op := range bi.ops {
			res := bi.results[j]
			if len(op.ID) == 0 || res.Outcome != paxos.Applied || res.Deduplicated || op.Kind == paxos.OpGet {
				continue
			}
			depth++
			out[string(op.ID)] = append(out[string(op.ID)], depth)
		}
	}
	return out
}

// Chosen returns key's chosen ballots, ascending.
func (c *Checker) Chosen(key string) []paxos.Ballot { return slices.Clone(c.reg(key).chosen) }
