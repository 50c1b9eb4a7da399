package nemesis

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// testNemesis is a nemesis over n slots (the first members of them) that
// injects nothing: enough for its bookkeeping.
func testNemesis(t *testing.T, slots, members int) *nemesis {
	t.Helper()
	c := &cluster{}
	for i := range slots {
		p := &proc{i: i, id: fmt.Sprintf("n%d", i+1), dataDir: filepath.Join(t.TempDir(), "data")}
		p.member = i < members
		c.procs = append(c.procs, p)
	}
	n := newNemesis(context.Background(), c, 1, nil, nil, 4*time.Second, time.Second, 2*time.Second, time.Now(), t.Logf)
	n.mem = &memberships{minMembers: 4, maxMembers: 6}
	return n
}

// A fault and a membership change in force together: operations see both
// (kind "fault+change", both's nodes) and no single-node fault.
func TestConcurrentFaultSnapshots(t *testing.T) {
	n := testNemesis(t, 6, 5)
	n.set(FaultKill, []int{1}, true)
	if s := n.snapshot(); s.kind != FaultKill || !slices.Equal(s.nodes, []int{1}) || !s.single {
		t.Fatalf("kill alone: %+v", s)
	}
	e := n.snapshot().epoch
	n.set(FaultJoin, []int{5}, true)
	if s := n.snapshot(); s.kind != "kill+join" || !slices.Equal(s.nodes, []int{1, 5}) || s.single || s.epoch == e {
		t.Fatalf("kill and join: %+v", s)
	}
	if !n.clear(srcFault) {
		t.Fatal("the kill was in force with the join: overlapped")
	}
	// The join goes on alone, still not a single-node fault: what the two
	// did together may outlast either.
	if s := n.snapshot(); s.kind != FaultJoin || !slices.Equal(s.nodes, []int{5}) || s.single {
		t.Fatalf("join after the kill: %+v", s)
	}
	n.set(FaultJoin, []int{5}, true)
	if s := n.snapshot(); s.single {
		t.Fatalf("join set again after the kill: %+v", s)
	}
	if !n.clear(srcChange) {
		t.Fatal("the join was in force with the kill: overlapped")
	}
	if s := n.snapshot(); s.kind != "" || len(s.nodes) != 0 {
		t.Fatalf("nothing: %+v", s)
	}
	n.set(FaultPause, []int{2}, true)
	if s := n.snapshot(); !s.single {
		t.Fatalf("a pause alone: %+v", s)
	}
	if n.clear(srcFault) {
		t.Fatal("the pause was alone: not overlapped")
	}
}

// A fault does not pick the node a membership change holds, and a change
// does not pick a node a fault holds.
func TestConcurrentClaims(t *testing.T) {
	n := testNemesis(t, 6, 5)
	n.claim(srcChange, 0, 1, 2)
	for range 50 {
		if x := n.pick(); x < 3 {
			t.Fatalf("a fault picked n%d, held by a membership change", x+1)
		}
	}
	if o := n.unclaimed(n.others(3)); !slices.Equal(o, []int{4}) {
		t.Fatalf("others of n4 a fault may pick: %v", o)
	}
	n.release(srcChange)
	n.claim(srcFault, 0, 1, 2, 3)
	for range 20 {
		kind, x, ok := n.planMembership(FaultLeave, nil)
		if !ok || kind != FaultLeave || x != 4 {
			t.Fatalf("leave planned as %s of n%d (%v), want n5, the one no fault holds", kind, x+1, ok)
		}
	}
	n.claim(srcFault, 4)
	// Every member is under a fault: no leave; a spare joins instead.
	if kind, x, ok := n.planMembership(FaultRemove, nil); !ok || kind != FaultJoin || x != 5 {
		t.Fatalf("remove with every member held: %s of n%d (%v), want a join of n6", kind, x+1, ok)
	}
}
