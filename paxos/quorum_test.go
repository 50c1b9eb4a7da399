package paxos_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

func TestQuorumBasics(t *testing.T) {
	if got := joint.Acceptors(); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("Acceptors = %v", got)
	}
	if !joint.Joint() || plain3.Joint() {
		t.Error("Joint: only a quorum with New is joint")
	}
	if !joint.Contains("d") || !joint.Contains("a") || joint.Contains("x") {
		t.Error("Contains")
	}
	if o, n := plain5.Need(); o != 3 || n != 0 {
		t.Errorf("plain5 Need = %d,%d", o, n)
	}
	if o, n := (paxos.Quorum{Old: []string{"a", "b", "c", "d"}, New: []string{"a", "b"}}).Need(); o != 3 || n != 2 {
		t.Errorf("even sets Need = %d,%d: a strict majority of 4 is 3, of 2 is 2", o, n)
	}
	in := func(ns ...string) func(string) bool { return func(n string) bool { return slices.Contains(ns, n) } }
	// Even Old: two of four is not a majority.
	q4 := paxos.Quorum{Old: []string{"a", "b", "c", "d"}}
	if q4.Reached(in("a", "b")) || !q4.Reached(in("a", "b", "c")) {
		t.Error("a strict majority of four is three")
	}
	if !q4.Lost(in("a", "b")) || q4.Lost(in("a")) {
		t.Error("Lost: four acceptors, two failed cannot reach three")
	}
	if !joint.ReachedAll(in("a", "b", "c", "d")) || joint.ReachedAll(in("a", "b", "c")) {
		t.Error("ReachedAll needs every acceptor of both sets")
	}
	if (paxos.Quorum{}).Reached(in("a")) {
		t.Error("an empty configuration has no quorum")
	}
}

// TestJointQuorumsIntersect: every quorum of a joint configuration
// {Old, New} meets every quorum of {Old}, of {New}, of another joint
// configuration sharing Old ({Old, New'}) and of one sharing New
// ({Old', New}), over random configurations of up to six acceptors and
// every subset of them. (This is what makes the move safe: the old epoch,
// the joint epoch and the new epoch each overlap the next.) It also
// checks the property is not vacuous: {Old} and {New} alone can miss each
// other.
func TestJointQuorumsIntersect(t *testing.T) {
	rng := rand.New(rand.NewPCG(16, 2))
	universe := []string{"a", "b", "c", "d", "e", "f"}
	pick := func() []string {
		var out []string
		for len(out) == 0 {
			out = nil
			for _, n := range universe {
				if rng.IntN(2) == 0 {
					out = append(out, n)
				}
			}
		}
		return out
	}
	quorums := func(q paxos.Quorum) [][]string {
		var out [][]string
		for mask := 0; mask < 1<<len(universe); mask++ {
			var s []string
			for i, n := range universe {
				if mask&(1<<i) != 0 {
					s = append(s, n)
				}
			}
			if q.Reached(func(n string) bool { return slices.Contains(s, n) }) {
				out = append(out, s)
			}
		}
		return out
	}
	meet := func(x, y []string) bool {
		for _, n := range x {
			if slices.Contains(y, n) {
				return true
			}
		}
		return false
	}
	sawMiss := false
	for range 300 {
		old, nw, nw2, old2 := pick(), pick(), pick(), pick()
		j := paxos.Quorum{Old: old, New: nw}
		others := map[string]paxos.Quorum{
			"{Old}":      {Old: old},
			"{New}":      {Old: nw},
			"{Old,New'}": {Old: old, New: nw2},
			"{Old',New}": {Old: old2, New: nw},
			"{Old,New}":  j,
		}
		jq := quorums(j)
		for name, o := range others {
			oq := quorums(o)
			for _, x := range jq {
				for _, y := range oq {
					if !meet(x, y) {
						t.Fatalf("joint %v/%v quorum %v misses %s (%v/%v) quorum %v", old, nw, x, name, o.Old, o.New, y)
					}
				}
			}
		}
		for _, x := range quorums(paxos.Quorum{Old: old}) {
			for _, y := range quorums(paxos.Quorum{Old: nw}) {
				sawMiss = sawMiss || !meet(x, y)
			}
		}
	}
	if !sawMiss {
		t.Fatal("no pair of plain Old and New quorums missed each other: the check is vacuous")
	}
}
