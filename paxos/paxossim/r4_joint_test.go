package paxossim

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

// moveAtoD replaces acceptor a by d (CASPAXOS.md §2.3): the joint epoch on
// b, c, d (a is down, the majority {b, c} of the old set is enough), an
// identity round under joint quorums through b, c, d on pg unless
// catchUp is false, then the epoch {b, c, d}. It returns the new epoch.
func moveAtoD(t *testing.T, c *Cluster, h *history, catchUp bool) int {
	t.Helper()
	c.AddAcceptor("d")
	joint := c.AddEpoch(paxos.Quorum{Old: []string{"a", "b", "c"}, New: []string{"b", "c", "d"}})
	for _, n := range []string{"b", "c", "d"} {
		c.Install(c.Acceptor(n), joint)
	}
	pg := c.Proposer("pg")
	pg.learnEpoch(joint)
	if catchUp {
		_, r := do(t, c, h, "pg", 50, get(), "b", "c", "d")
		if !r.Quorum.Joint() {
			t.Fatal("the catch-up round did not run under the joint configuration")
		}
	}
	e := c.AddEpoch(paxos.Quorum{Old: []string{"b", "c", "d"}})
	for _, n := range []string{"b", "c", "d"} {
		c.Install(c.Acceptor(n), e)
	}
	return e
}

// readAfterMove reads through names on p, whose epoch is older: the first
// round is refused as stale (p learns the epoch; NotSent, or Unknown when
// it was a fast accept), the next one reads.
func readAfterMove(t *testing.T, c *Cluster, h *history, p string, now uint64, names ...string) paxos.Result {
	t.Helper()
	stale := c.Start(c.Proposer(p), key, []paxos.Op{get()}, now)
	c.Deliver(stale, "b", "c")
	if !stale.Done() || stale.P.Phase() == paxos.Chosen {
		t.Fatalf("a round of the old epoch: phase %d, want it refused", stale.P.Phase())
	}
	res, _ := do(t, c, h, p, now+1, get(), names...)
	return res
}

// TestR4Scylla5251ReplaceAfterPartialAccept (scylladb#5251, gusev-p's
// example): a write is accepted on {a, b} (chosen), its proposer dies, and
// d replaces a. With the joint epoch and the identity round under joint
// quorums, every quorum of the new set {b, c, d} reads the write.
func TestR4Scylla5251ReplaceAfterPartialAccept(t *testing.T) {
	c := script(t)
	h := &history{}
	do(t, c, h, "p1", 10, set("w", "v"), "a", "b")
	c.Acceptor("a").Up = false
	moveAtoD(t, c, h, true)
	for i, q := range [][]string{{"c", "d"}, {"b", "d"}, {"b", "c"}, {"b", "c", "d"}} {
		if res := readAfterMove(t, c, h, []string{"p2", "p3", "p1", "p2"}[i], uint64(100+10*i), q...); string(res.Value) != "v" {
			t.Fatalf("read via %v after the move: %q", q, res.Value)
		}
	}
	clean(t, c)
	if res := h.check(t); res != porcupine.Ok {
		t.Fatalf("porcupine: %v", res)
	}
}

// TestR4CheckerSeesAMoveWithoutCatchUp: the same move without the identity
// round loses the write (d starts empty, {c, d} has never seen it), and
// both the checker and porcupine say so.
func TestR4CheckerSeesAMoveWithoutCatchUp(t *testing.T) {
	c := script(t)
	h := &history{}
	do(t, c, h, "p1", 10, set("w", "v"), "a", "b")
	c.Acceptor("a").Up = false
	moveAtoD(t, c, h, false)
	if res := readAfterMove(t, c, h, "p2", 100, "c", "d"); res.Exists {
		t.Fatalf("without catch-up, {c, d} should not know the write; read %q", res.Value)
	}
	if len(c.Checker.Violations()) == 0 {
		t.Fatal("a chosen value lost in a move was not reported")
	}
	if res := h.check(t); res != porcupine.Illegal {
		t.Fatalf("porcupine says %v for a lost acknowledged write", res)
	}
}
