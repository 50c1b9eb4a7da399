package paxossim

import (
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

// quorums3 is every prepare quorum of {a, b, c}.
var quorums3 = [][]string{{"a", "b"}, {"a", "c"}, {"b", "c"}, {"a", "b", "c"}}

// TestR1GryadkaCacheAfterPartialAccept (gryadka Proposer.js, CASPAXOS.md
// §1.5 trap 1): a fast accept at B reaches one acceptor of three, the
// others time out; the same proposer runs a second change. It must not
// reuse B (gryadka's cache, written after the prepare and deleted only on
// an explicit conflict, would): the second change prepares a fresh ballot.
// No ballot holds two states, and the acknowledged value is what every
// prepare quorum adopts.
func TestR1GryadkaCacheAfterPartialAccept(t *testing.T) {
	c := script(t)
	h := &history{}
	p1 := c.Proposer("p1")
	do(t, c, h, "p1", 10, set("w0", "v0"), "a", "b", "c")

	// The fast accept at the cached ballot B reaches a only.
	cl := h.call(set("w1", "v1"))
	r2 := c.Start(p1, key, []paxos.Op{set("w1", "v1")}, 20)
	if !r2.P.Fast() {
		t.Fatal("the second change did not take the fast path")
	}
	b := r2.Msg.Ballot
	c.Deliver(r2, "a")
	c.Fail(r2, "b")
	c.Fail(r2, "c")
	if r2.P.Phase() != paxos.Unknown {
		t.Fatalf("phase %d, want Unknown (an accept left, no quorum answered)", r2.P.Phase())
	}
	h.unknown(cl)

	// The same proposer's next change: a prepare at a fresh ballot.
	r3 := c.Start(p1, key, []paxos.Op{set("w2", "v2")}, 20)
	if r3.P.Fast() || r3.Msg.Accept || !b.Less(r3.Msg.Ballot) {
		t.Fatalf("after the partial accept: fast %v, accept %v at %v; want a prepare above %v", r3.P.Fast(), r3.Msg.Accept, r3.Msg.Ballot, b)
	}
	cl = h.call(set("w2", "v2"))
	run(t, c, r3, "b", "c")
	res := result(t, r3)
	h.ret(cl, OutputOf(res))
	if string(res.Value) != "v2" {
		t.Fatalf("second change answered %s", res.Value)
	}

	// One state at B: only a holds it.
	for _, n := range []string{"a", "b", "c"} {
		if rec := c.Acceptor(n).Record(key); rec.Accepted == b && value(rec.State) != "v1" {
			t.Fatalf("%s holds %v with %s", n, b, value(rec.State))
		}
	}
	// Every prepare quorum adopts the acknowledged v2.
	for _, q := range quorums3 {
		if s, at := c.Read(key, q...); value(s) != "v2" {
			t.Errorf("quorum %v adopts %s at %v, want v2", q, value(s), at)
		}
	}
	// And real reads through each quorum answer v2.
	for i, q := range quorums3 {
		res, _ := do(t, c, h, "p2", uint64(100+i), get(), q...)
		if value(paxos.State{Exists: res.Exists, Value: res.Value}) != "v2" {
			t.Errorf("read via %v: %s", q, res.Value)
		}
	}
	clean(t, c)
	if res := h.check(t); res != porcupine.Ok {
		t.Fatalf("porcupine: %v", res)
	}
}

// TestR1CheckerSeesGryadkaReuse: the accept gryadka would send (the same
// ballot B with the second change's state, to the acceptors that missed
// the first) is what the checker reports as one ballot with two states;
// and then a prepare quorum holding both breaks the tie by reply order.
func TestR1CheckerSeesGryadkaReuse(t *testing.T) {
	c := script(t)
	h := &history{}
	p1 := c.Proposer("p1")
	do(t, c, h, "p1", 10, set("w0", "v0"), "a", "b", "c")
	r2 := c.Start(p1, key, []paxos.Op{set("w1", "v1")}, 20)
	c.Deliver(r2, "a")
	// gryadka: the same ballot again, with the next change's state.
	forged := c.RequestTo(r2, "b")
	forged.Msg.State, _ = paxos.ApplyAll(forged.Msg.State, []paxos.Op{set("w2", "v2")}, paxos.DefaultWindow)
	c.Handle(forged)
	forged.To = "c"
	c.Handle(forged)
	if len(c.Checker.Violations()) == 0 {
		t.Fatal("two states at one ballot were not reported")
	}
	if s1, _ := c.Read(key, "a", "b"); value(s1) != "v1" {
		t.Fatalf("with a first, {a,b} adopts %s", value(s1))
	}
}

// TestR2Cassandra12126FailedConditionWrites (CASSANDRA-12126,
// scylladb#6299): a write accepted on a only, its proposer dies (the
// outcome is unknown). A read through {b, c} and then one through {a, b}
// must be linearizable: the first read runs its accept, so the half-done
// write can no longer appear after it. A compare-and-set whose condition
// fails also runs its accept of the unchanged state.
func TestR2Cassandra12126FailedConditionWrites(t *testing.T) {
	c := script(t)
	h := &history{}
	cl := h.call(set("w", "v"))
	rw := c.Start(c.Proposer("p1"), key, []paxos.Op{set("w", "v")}, 10)
	c.Deliver(rw, "a", "b", "c")
	c.Deliver(rw, "a") // the accept reaches a; p1 dies
	h.unknown(cl)

	r1, rr1 := do(t, c, h, "p2", 20, get(), "b", "c")
	for _, n := range []string{"b", "c"} {
		if c.Acceptor(n).Record(key).Accepted != rr1.P.Ballot() {
			t.Fatalf("the read's accept did not reach %s", n)
		}
	}
	r2, _ := do(t, c, h, "p3", 30, get(), "a", "b")
	if r1.Exists || r2.Exists {
		t.Fatalf("reads answered %q then %q; both must be absent (the read via {b,c} ran its accept)", r1.Value, r2.Value)
	}

	// A failed condition still accepts, through {a, c}.
	fr, rf := do(t, c, h, "p3", 40, setIf("f", "x", 5), "a", "c")
	if fr.Outcome != paxos.ConditionFailed {
		t.Fatalf("CAS at version 5 of a version-0 register: %v", fr.Outcome)
	}
	for _, n := range []string{"a", "c"} {
		if c.Acceptor(n).Record(key).Accepted != rf.P.Ballot() {
			t.Fatalf("the failed CAS did not accept on %s", n)
		}
	}
	do(t, c, h, "pg", 50, get(), "b", "c")
	clean(t, c)
	if res := h.check(t); res != porcupine.Ok {
		t.Fatalf("porcupine: %v", res)
	}

	// Cassandra v1's reads did not propose: the read via {b, c} leaves no
	// trace, the read via {a, b} then sees v, and another read via {b, c}
	// no longer does. Porcupine must reject that history.
	bad := &history{}
	cw := bad.call(set("w", "v"))
	bad.unknown(cw)
	for _, out := range []Output{{Outcome: paxos.Applied}, {Outcome: paxos.Applied, Exists: true, Value: "v", Version: 1}, {Outcome: paxos.Applied}} {
		bad.ret(bad.call(get()), out)
	}
	if res := bad.check(t); res != porcupine.Illegal {
		t.Fatalf("porcupine says %v for reads that saw v and then lost it", res)
	}
}

// TestR13IncrementExactlyOnceAfterLostAccept (CASPAXOS.md §2.5): an
// increment whose accept reached only a (the proposer never learns the
// outcome) is retried with a new round and the same operation id. Whether
// the retry's prepare quorum sees the partial accept (it adopts it and the
// id deduplicates) or not (it applies the increment to the older state,
// and the partial accept is overtaken), the increment is applied exactly
// once.
func TestR13IncrementExactlyOnceAfterLostAccept(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retry   []string
		dedup   bool
		readVia []string
	}{
		{"retry adopts the partial accept", []string{"a", "b"}, true, []string{"b", "c"}},
		{"retry misses the partial accept", []string{"b", "c"}, false, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := script(t)
			h := &history{}
			op := incr("i1")
			cl := h.call(op)
			p1 := c.Proposer("p1")
			r := c.Start(p1, key, []paxos.Op{op}, 10)
			c.Deliver(r, "a", "b", "c")
			c.Deliver(r, "a")
			c.Fail(r, "b")
			c.Fail(r, "c")
			if r.P.Phase() != paxos.Unknown {
				t.Fatalf("first round: phase %d, want Unknown", r.P.Phase())
			}
			retry := c.Start(p1, key, []paxos.Op{op}, 20)
			run(t, c, retry, tc.retry...)
			res := result(t, retry)
			h.ret(cl, OutputOf(res))
			if res.Outcome != paxos.Applied || res.Deduplicated != tc.dedup || res.Version != 1 {
				t.Fatalf("retry answered %+v, want applied at version 1 (dedup %v)", res, tc.dedup)
			}
			got, rr := do(t, c, h, "p2", 30, get(), tc.readVia...)
			if string(got.Value) != "1" {
				t.Fatalf("counter reads %q, want 1", got.Value)
			}
			if n := len(c.Checker.Applications(key, rr.P.Ballot())["i1"]); n != 1 {
				t.Fatalf("i1 applied %d times along the final lineage", n)
			}
			clean(t, c)
			if res := h.check(t); res != porcupine.Ok {
				t.Fatalf("porcupine: %v", res)
			}
		})
	}
}
