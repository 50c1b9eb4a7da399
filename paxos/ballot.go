package paxos

import (
	"cmp"
	"fmt"
)

// Ballot orders proposals: by Counter, then by the proposing node's id. The
// zero ballot is below every ballot a proposer makes.
type Ballot struct {
	Counter uint64
	Node    string
}

// Compare returns -1, 0 or +1 as b is below, equal to or above o.
func (b Ballot) Compare(o Ballot) int {
	if c := cmp.Compare(b.Counter, o.Counter); c != 0 {
		return c
	}
	return cmp.Compare(b.Node, o.Node)
}

// Less reports b < o.
func (b Ballot) Less(o Ballot) bool { return b.Compare(o) < 0 }

// IsZero reports whether b is the zero ballot.
func (b Ballot) IsZero() bool { return b.Counter == 0 && b.Node == "" }

func (b Ballot) String() string {
	if b.IsZero() {
		return "0"
	}
	return fmt.Sprintf("%d.%s", b.Counter, b.Node)
}

// maxBallot returns the greater of the ballots.
func maxBallot(bs ...Ballot) Ballot {
	var m Ballot
	for _, b := range bs {
		if m.Less(b) {
			m = b
		}
	}
	return m
}

// successor is the ballot a proposer piggybacks as the next promise on an
// accept at b: the next counter, the same node.
func successor(b Ballot) Ballot { return Ballot{Counter: b.Counter + 1, Node: b.Node} }

// BallotGen makes fresh ballots for one node: the counter is the caller's
// clock in microseconds, or one past the largest counter seen, whichever is
// greater, so clocks only affect how often a proposer is rejected, never
// safety. Every ballot it returns is greater than every one it returned or
// observed before.
type BallotGen struct {
	node string
	last uint64
}

// NewBallotGen returns a generator for node.
func NewBallotGen(node string) *BallotGen { return &BallotGen{node: node} }

// Next returns a fresh ballot; nowMicros is the caller's clock.
func (g *BallotGen) Next(nowMicros uint64) Ballot {
	g.last = max(nowMicros, g.last+1)
	return Ballot{Counter: g.last, Node: g.node}
}

// Observe fast-forwards the generator past b (a conflict, a floor, a
// promise seen).
func (g *BallotGen) Observe(b Ballot) { g.last = max(g.last, b.Counter) }
