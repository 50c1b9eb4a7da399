package paxossim

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

var abc = []string{"a", "b", "c"}

// collection runs a register's collection as CASPAXOS.md §1.6 describes
// (our variant): an identity round on pg acknowledged by every acceptor;
// if it chose a tombstone, every acceptor raises its floor past it and
// removes the record if it still holds that tombstone (covering the
// removed records' promises), and the proposers learn the floor. It
// returns the identity round and whether the register was removed.
//
// The history records collection as an operation of its own whose
// outcome is unknown: a change that slips in between the identity round
// and an acceptor's removal (its record no longer equal to the tombstone,
// so kept) makes the register live on from it, and collection then has
// no effect on the register as clients see it.
func collection(t *testing.T, c *Cluster, h *history, now uint64) (*Round, bool) {
	t.Helper()
	cl := h.call(paxos.Op{Kind: OpCollect})
	r := c.Start(c.Proposer("pg"), key, []paxos.Op{get()}, now)
	run(t, c, r, abc...)
	if !r.Quorum.ReachedAll(func(n string) bool { return r.Acks[n] }) || r.P.State().Exists {
		return r, false
	}
	removals := []Removal{{Key: key, Ballot: r.P.Ballot()}}
	for _, n := range abc {
		c.RaiseFloorAndRemove(n, removals, true)
	}
	for _, p := range c.Proposers() {
		p.SetFloor(c.Acceptor("a").Floor())
	}
	h.unknown(cl)
	return r, true
}

// TestR8LostDeleteRejectedByFloor (paper §3.1, lost delete): an old
// write's accept is held back in the network; the register is deleted,
// collection replicates the tombstone to every acceptor, raises the floor
// and removes the register; then the old accept arrives at acceptors that
// no longer have a record. The floor refuses it: the deleted value never
// comes back, through any quorum.
func TestR8LostDeleteRejectedByFloor(t *testing.T) {
	c := script(t)
	h := &history{}
	do(t, c, h, "p1", 10, set("w1", "v1"), abc...)

	cl := h.call(set("w2", "v2"))
	old := c.Start(c.Proposer("p2"), key, []paxos.Op{set("w2", "v2")}, 15)
	c.Deliver(old, "b", "c")
	if !old.Msg.Accept {
		t.Fatal("the old write did not get to its accept")
	}
	held := []Request{c.RequestTo(old, "b"), c.RequestTo(old, "c")}
	h.unknown(cl)

	do(t, c, h, "p3", 20, del("d1"), abc...)
	if _, removed := collection(t, c, h, 30); !removed {
		t.Fatal("collection did not remove the deleted register")
	}
	for _, req := range held {
		if rep := c.DeliverRequest(old, req); rep.Acc.OK {
			t.Fatalf("%s accepted the delayed %v after collection", req.To, req.Msg.Ballot)
		}
	}
	for i, q := range quorums3 {
		res, _ := do(t, c, h, []string{"p1", "p2", "p3"}[i%3], uint64(40+i), get(), q...)
		if res.Exists || res.Version != 0 {
			t.Fatalf("read via %v after collection: %q version %d", q, res.Value, res.Version)
		}
	}
	clean(t, c)
	if res := h.check(t); res != porcupine.Ok {
		t.Fatalf("porcupine: %v", res)
	}
}

// TestR8CheckerSeesRemovalWithoutFloor: the same story with records
// removed but no floor raised. The removal itself forgets promises (the
// checker reports it), the delayed accept lands, and a read brings the
// deleted register's successor back (porcupine rejects the history).
func TestR8CheckerSeesRemovalWithoutFloor(t *testing.T) {
	c := script(t)
	h := &history{}
	do(t, c, h, "p1", 10, set("w1", "v1"), abc...)
	cl := h.call(set("w2", "v2"))
	old := c.Start(c.Proposer("p2"), key, []paxos.Op{set("w2", "v2")}, 15)
	c.Deliver(old, "b", "c")
	held := c.RequestTo(old, "c")
	h.unknown(cl)
	do(t, c, h, "p3", 20, del("d1"), abc...)
	cc := h.call(paxos.Op{Kind: OpCollect})
	g := c.Start(c.Proposer("pg"), key, []paxos.Op{get()}, 30)
	run(t, c, g, abc...)
	for _, n := range abc { // removal without a floor
		delete(c.Acceptor(n).recs, key)
		c.Checker.removedRecords(key, g.P.Ballot())
		c.Checker.recorded(n, key, paxos.Record{}, c.Acceptor(n).floor)
	}
	h.unknown(cc)
	if rep := c.DeliverRequest(old, held); !rep.Acc.OK {
		t.Fatal("without a floor the delayed accept should land")
	}
	res, _ := do(t, c, h, "p1", 40, get(), "a", "c")
	if string(res.Value) != "v2" {
		t.Fatalf("read via {a,c}: %q, want the resurrected v2", res.Value)
	}
	if len(c.Checker.Violations()) == 0 {
		t.Fatal("a removal that forgot promises was not reported")
	}
	if res := h.check(t); res != porcupine.Illegal {
		t.Fatalf("porcupine says %v for a resurrected write", res)
	}
}

// TestR8RemovalMustNotLowerAPromise: after collection's identity round,
// an acceptor's tombstone record carries a promise above the tombstone's
// ballot (the round's piggybacked successor, or a later prepare). Raising
// the floor only to the tombstone's ballot and removing the record lowers
// that promise: a prepare between the two ballots is promised again, and
// two rounds both get chosen, one not descending from the other. The
// floor must rise to the removed records' promises too.
func TestR8RemovalMustNotLowerAPromise(t *testing.T) {
	for _, cover := range []bool{false, true} {
		name := "floor to the tombstone only"
		if cover {
			name = "floor covers promises"
		}
		t.Run(name, func(t *testing.T) {
			c := script(t)
			h := &history{}
			do(t, c, h, "p1", 10, set("w1", "v1"), abc...)
			do(t, c, h, "p1", 20, del("d1"), abc...)
			g := c.Start(c.Proposer("pg"), key, []paxos.Op{get()}, 40)
			run(t, c, g, abc...)
			// P prepares above the tombstone on a and b.
			high := c.Start(c.Proposer("p2"), key, []paxos.Op{set("w2", "high")}, 100)
			c.Deliver(high, "a", "b")
			for _, n := range abc {
				c.RaiseFloorAndRemove(n, []Removal{{Key: key, Ballot: g.P.Ballot()}}, cover)
			}
			// Q, between the tombstone and P, on a and c.
			low := c.Start(c.Proposer("p3"), key, []paxos.Op{set("w3", "low")}, 50)
			c.Deliver(low, "a", "c")
			if low.Msg.Accept {
				c.Deliver(low, "a", "c")
			}
			c.Deliver(high, "a", "b")
			bothChosen := low.P.Phase() == paxos.Chosen && high.P.Phase() == paxos.Chosen
			if cover {
				clean(t, c)
				if bothChosen {
					t.Fatal("both rounds chosen")
				}
				return
			}
			var lost, went bool
			for _, v := range c.Checker.Violations() {
				lost = lost || strings.Contains(v.What, "does not descend")
				went = went || strings.Contains(v.What, "went back")
			}
			if !bothChosen || !lost || !went {
				t.Fatalf("both chosen %v, lineage broken reported %v, promise lowered reported %v: want all", bothChosen, lost, went)
			}
		})
	}
}

// TestR9LostUpdateRacingCollection (paper §3.1, lost update): a write
// races with the collection of its tombstoned register. Over 300 seeded
// interleavings of the write's messages (and its retries, same id), the
// identity round's messages and each acceptor's removal, with some
// messages lost: an acknowledged write is the register's final value
// (rejected and retried, or adopted by the identity round, never masked
// by the tombstone); an unknown one is its value or absent; every history
// is linearizable with collection as an operation of its own.
func TestR9LostUpdateRacingCollection(t *testing.T) {
	var acked, collected, ackedAndCollected, adopted, retried int
	for seed := uint64(1); seed <= 300; seed++ {
		o := raceCollection(t, seed)
		if t.Failed() {
			t.Fatalf("seed %d failed", seed)
		}
		if o.acked {
			acked++
		}
		if o.collected {
			collected++
			if o.acked {
				ackedAndCollected++
			}
		}
		if o.adopted {
			adopted++
		}
		if o.collected && o.acked && o.retried {
			retried++
		}
	}
	t.Logf("300 races: write acknowledged %d, register collected %d (and the write acknowledged %d, after a retry %d), identity round adopted the write %d",
		acked, collected, ackedAndCollected, retried, adopted)
	if acked == 0 || collected == 0 || ackedAndCollected == 0 || adopted == 0 || retried == 0 {
		t.Fatal("the races do not cover every outcome")
	}
}

type raceOutcome struct{ acked, collected, adopted, retried bool }

type pendingReq struct {
	r   *Round
	req Request
}

func raceCollection(t *testing.T, seed uint64) raceOutcome {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 9))
	c := script(t)
	h := &history{}
	do(t, c, h, "p1", 10, set("w0", "v"), abc...)
	do(t, c, h, "p1", 11, del("d0"), abc...)

	var out raceOutcome
	var pending []pendingReq
	add := func(r *Round) {
		for _, req := range c.Requests(r) {
			pending = append(pending, pendingReq{r, req})
		}
	}
	ccall := h.call(paxos.Op{Kind: OpCollect})
	g := c.Start(c.Proposer("pg"), key, []paxos.Op{get()}, 12+uint64(rng.IntN(30)))
	add(g)
	var removals []string // acceptors still to remove
	gDone := false
	// The write starts after a random number of steps of the collection.
	wop := set("w1", "new")
	var wcall call
	var w *Round
	wStart := rng.IntN(16)
	now := 12 + uint64(rng.IntN(30))
	wAttempts, wDone, wUnknown := 1, false, false

	for steps := 0; steps < 10_000; steps++ {
		if steps == wStart {
			wcall = h.call(wop)
			w = c.Start(c.Proposer("p2"), key, []paxos.Op{wop}, now)
			add(w)
		}
		// Rounds with nothing left in flight time out.
		for _, r := range []*Round{w, g} {
			if r != nil && !r.Done() && !hasPending(pending, r) {
				c.Expire(r)
			}
		}
		if w != nil && w.Done() && !wDone {
			switch {
			case w.P.Phase() == paxos.Chosen:
				res := w.P.Results()[0]
				h.ret(wcall, OutputOf(res))
				wDone, out.acked = true, true
			case wAttempts < 4:
				wUnknown = wUnknown || w.P.Phase() == paxos.Unknown
				wAttempts++
				out.retried = true
				now += 10
				w = c.Start(c.Proposer("p2"), key, []paxos.Op{wop}, now)
				add(w)
			default:
				wUnknown = wUnknown || w.P.Phase() == paxos.Unknown
				if wUnknown {
					h.unknown(wcall)
				}
				wDone = true
			}
		}
		// Collection decides once every answer to its accept came in (or
		// was lost): a removal needs every acceptor's acknowledgement.
		if g.Done() && !gDone && !hasPending(pending, g) {
			gDone = true
			all := g.Quorum.ReachedAll(func(n string) bool { return g.Acks[n] })
			if g.P.Phase() == paxos.Chosen && all && !g.P.State().Exists {
				removals = []string{"a", "b", "c"}
			}
			out.adopted = g.P.Phase() == paxos.Chosen && g.P.State().Exists
		}
		if len(pending) == 0 && len(removals) == 0 && wDone && gDone {
			break
		}
		if w == nil && len(pending) == 0 && len(removals) == 0 {
			continue // the write starts next
		}
		// One step: a removal, or a message (delivered or lost).
		if len(removals) > 0 && (len(pending) == 0 || rng.IntN(4) == 0) {
			i := rng.IntN(len(removals))
			c.RaiseFloorAndRemove(removals[i], []Removal{{Key: key, Ballot: g.P.Ballot()}}, true)
			removals = append(removals[:i], removals[i+1:]...)
			if len(removals) == 0 {
				out.collected = true
				for _, p := range c.Proposers() {
					p.SetFloor(c.Acceptor("a").Floor())
				}
				h.unknown(ccall)
			}
			continue
		}
		if len(pending) == 0 {
			continue
		}
		i := rng.IntN(len(pending))
		pr := pending[i]
		pending = append(pending[:i], pending[i+1:]...)
		if rng.IntN(20) == 0 {
			c.Fail(pr.r, pr.req.To)
			continue
		}
		was := pr.r.Msg.Accept
		c.DeliverRequest(pr.r, pr.req)
		if !was && pr.r.Msg.Accept {
			add(pr.r)
		}
	}
	final, _ := do(t, c, h, "p3", 1000, get(), abc...)
	switch {
	case out.acked && string(final.Value) != "new":
		t.Errorf("seed %d: the acknowledged write is gone: final %q (collected %v)", seed, final.Value, out.collected)
	case !out.acked && final.Exists && string(final.Value) != "new":
		t.Errorf("seed %d: final %q", seed, final.Value)
	}
	clean(t, c)
	if res := h.check(t); res != porcupine.Ok {
		t.Errorf("seed %d: porcupine %v", seed, res)
		for _, op := range h.ops {
			t.Logf("[%d,%d] %s -> %s", op.Call, op.Return, describeInput(op.Input.(Input)), describeOutput(op.Output.(Output)))
		}
	}
	return out
}

func hasPending(ps []pendingReq, r *Round) bool {
	for _, p := range ps {
		if p.r == r && p.req.Msg.Accept == r.Msg.Accept && p.req.Msg.Ballot == r.Msg.Ballot {
			return true
		}
	}
	return false
}
