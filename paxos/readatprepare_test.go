package paxos_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

func get() paxos.Op { return paxos.Op{Kind: paxos.OpGet} }

// TestReadAtPrepare: a round of reads whose promises report nothing
// accepted ends at the prepare (the register is absent), and its promised
// ballot, never used, is the next change's fast path. Anything else runs
// the accept.
func TestReadAtPrepare(t *testing.T) {
	empty := paxos.PrepareReply{OK: true}
	held := paxos.PrepareReply{OK: true, Accepted: bal(50, "q"), State: val("41", 3)}
	retried := get()
	retried.Retry = true
	cases := []struct {
		name     string
		ops      []paxos.Op
		off      bool
		promises [2]paxos.PrepareReply
		atPrep   bool
	}{
		{"absent register", []paxos.Op{get(), get()}, false, [2]paxos.PrepareReply{empty, empty}, true},
		{"one promise holds a state", []paxos.Op{get()}, false, [2]paxos.PrepareReply{empty, held}, false},
		{"every promise holds the same state", []paxos.Op{get()}, false, [2]paxos.PrepareReply{held, held}, false},
		{"a change in the batch", []paxos.Op{get(), incr("i1")}, false, [2]paxos.PrepareReply{empty, empty}, false},
		{"a retried read", []paxos.Op{retried}, false, [2]paxos.PrepareReply{empty, empty}, false},
		{"turned off", []paxos.Op{get()}, true, [2]paxos.PrepareReply{empty, empty}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
			r := round(tc.ops...)
			r.ReadAtPrepare = !tc.off
			p, m := paxos.Start(r, gen, 100, cache)
			if m.Accept {
				t.Fatal("a fresh proposer skipped the prepare")
			}
			p.OnPrepare("a", tc.promises[0])
			am, sent := p.OnPrepare("b", tc.promises[1])
			if !tc.atPrep {
				if !sent || !am.Accept || p.AtPrepare() {
					t.Fatalf("accept %+v sent %v at prepare %v: want the accept", am, sent, p.AtPrepare())
				}
				return
			}
			if sent || p.Phase() != paxos.Chosen || !p.AtPrepare() {
				t.Fatalf("sent %v phase %d at prepare %v: want chosen at the prepare", sent, p.Phase(), p.AtPrepare())
			}
			for i, res := range p.Results() {
				if res.Outcome != paxos.Applied || res.Exists || res.Version != 0 {
					t.Fatalf("result %d: %+v, want an absent register", i, res)
				}
			}
			// The next change accepts at the promised ballot, once.
			p2, m2 := paxos.Start(round(incr("i2")), gen, 100, cache)
			if !p2.Fast() || !m2.Accept || m2.Ballot != bal(100, "p") || m2.Promise != bal(101, "p") || m2.State.Version != 1 {
				t.Fatalf("next change: fast %v %+v, want an accept at 100.p of version 1", p2.Fast(), m2)
			}
			if _, ok := cache.Take("k"); ok {
				t.Fatal("the promised ballot is still cached after its accept was sent")
			}
		})
	}
}
