package paxos_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

func TestBallotOrder(t *testing.T) {
	b := func(c uint64, n string) paxos.Ballot { return paxos.Ballot{Counter: c, Node: n} }
	for _, tc := range []struct {
		a, b paxos.Ballot
		want int
	}{
		{b(0, ""), b(0, ""), 0},
		{b(0, ""), b(0, "a"), -1},
		{b(0, "z"), b(1, ""), -1},
		{b(1, "a"), b(1, "b"), -1},
		{b(2, "a"), b(1, "b"), 1},
		{b(5, "n2"), b(5, "n10"), 1}, // names compare as strings
		{b(7, "x"), b(7, "x"), 0},
	} {
		if got := tc.a.Compare(tc.b); got != tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := tc.b.Compare(tc.a); got != -tc.want {
			t.Errorf("%v.Compare(%v) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
		if got := tc.a.Less(tc.b); got != (tc.want < 0) {
			t.Errorf("%v.Less(%v) = %v", tc.a, tc.b, got)
		}
	}
	if !(paxos.Ballot{}).IsZero() || b(0, "a").IsZero() || b(1, "").IsZero() {
		t.Error("IsZero: only the zero ballot is zero")
	}
	if s := b(12, "n1").String(); s != "12.n1" {
		t.Errorf("String = %q", s)
	}
	if s := (paxos.Ballot{}).String(); s != "0" {
		t.Errorf("zero String = %q", s)
	}
}

// TestBallotOrderIsTotal: Compare is a total order (antisymmetric,
// transitive, consistent with equality) on random ballots.
func TestBallotOrderIsTotal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	nodes := []string{"", "a", "b", "n1", "n10"}
	bs := make([]paxos.Ballot, 200)
	for i := range bs {
		bs[i] = paxos.Ballot{Counter: rng.Uint64N(4), Node: nodes[rng.IntN(len(nodes))]}
	}
	sorted := slices.Clone(bs)
	slices.SortFunc(sorted, paxos.Ballot.Compare)
	for i := 1; i < len(sorted); i++ {
		if sorted[i].Less(sorted[i-1]) {
			t.Fatalf("sort order broken at %d: %v then %v", i, sorted[i-1], sorted[i])
		}
	}
	for _, x := range bs {
		for _, y := range bs {
			if (x.Compare(y) == 0) != (x == y) {
				t.Fatalf("%v vs %v: Compare 0 iff equal", x, y)
			}
		}
	}
}

func TestBallotGen(t *testing.T) {
	g := paxos.NewBallotGen("n1")
	b1 := g.Next(100)
	if b1 != (paxos.Ballot{Counter: 100, Node: "n1"}) {
		t.Fatalf("first ballot %v, want the clock 100.n1", b1)
	}
	// A clock that stands still or goes back still gives greater ballots.
	b2 := g.Next(100)
	b3 := g.Next(50)
	if !b1.Less(b2) || !b2.Less(b3) {
		t.Fatalf("ballots %v %v %v do not increase", b1, b2, b3)
	}
	// Observing a ballot of another node fast-forwards past it.
	g.Observe(paxos.Ballot{Counter: 500, Node: "n9"})
	b4 := g.Next(60)
	if !(paxos.Ballot{Counter: 500, Node: "n9"}).Less(b4) || b4.Counter != 501 {
		t.Fatalf("after observing 500.n9: %v, want 501.n1", b4)
	}
	// Observing a lower ballot changes nothing; a clock ahead wins.
	g.Observe(paxos.Ballot{Counter: 3, Node: "z"})
	if b5 := g.Next(0); b5.Counter != 502 {
		t.Fatalf("after observing a lower ballot: %v, want 502.n1", b5)
	}
	if b6 := g.Next(10_000); b6.Counter != 10_000 {
		t.Fatalf("clock ahead: %v, want 10000.n1", b6)
	}
}

// TestBallotGenStrictlyIncreases: whatever the clock does and whatever is
// observed, every ballot is above every ballot made or observed before.
func TestBallotGenStrictlyIncreases(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	g := paxos.NewBallotGen("m")
	var high paxos.Ballot
	for range 10_000 {
		if rng.IntN(3) == 0 {
			o := paxos.Ballot{Counter: rng.Uint64N(1 << 20), Node: []string{"a", "m", "z"}[rng.IntN(3)]}
			g.Observe(o)
			if high.Less(o) {
				high = o
			}
			continue
		}
		b := g.Next(rng.Uint64N(1 << 20))
		if !high.Less(b) || b.Node != "m" {
			t.Fatalf("ballot %v not above %v", b, high)
		}
		high = b
	}
}
