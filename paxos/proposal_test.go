package paxos_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

func incr(id string) paxos.Op { return paxos.Op{Kind: paxos.OpIncrement, ID: []byte(id), By: 1} }

func round(ops ...paxos.Op) paxos.Round {
	return paxos.Round{Key: "k", Quorum: plain3, Config: "e1", Ops: ops, Window: paxos.DefaultWindow}
}

// choose runs p to Chosen with a, b promising (empty) and accepting.
func choose(t *testing.T, p *paxos.Proposal, m paxos.Message) paxos.Message {
	t.Helper()
	if !m.Accept {
		for _, n := range []string{"a", "b"} {
			if am, ok := p.OnPrepare(n, paxos.PrepareReply{OK: true}); ok {
				m = am
			}
		}
	}
	if !m.Accept {
		t.Fatalf("no accept after a majority of promises (phase %d)", p.Phase())
	}
	p.OnAccept("a", paxos.AcceptReply{OK: true})
	p.OnAccept("b", paxos.AcceptReply{OK: true})
	if p.Phase() != paxos.Chosen {
		t.Fatalf("phase %d after a majority of accepts", p.Phase())
	}
	return m
}

func TestProposalFullRound(t *testing.T) {
	gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
	p, m := paxos.Start(round(incr("i1")), gen, 100, cache)
	if m.Accept || m.Ballot != bal(100, "p") || p.Phase() != paxos.Preparing || p.Fast() {
		t.Fatalf("start: %+v phase %d fast %v", m, p.Phase(), p.Fast())
	}
	// The accept carries the change applied to the highest accepted state.
	if _, ok := p.OnPrepare("a", paxos.PrepareReply{OK: true, Accepted: bal(50, "q"), State: val("41", 3)}); ok {
		t.Fatal("accept after one promise of three")
	}
	am, ok := p.OnPrepare("c", paxos.PrepareReply{OK: true})
	if !ok || !am.Accept || am.Ballot != bal(100, "p") || am.Promise != bal(101, "p") {
		t.Fatalf("accept %+v %v, want at 100.p promising 101.p", am, ok)
	}
	if string(am.State.Value) != "42" || am.State.Version != 4 {
		t.Fatalf("accept state %s, want 42 at version 4", printState(am.State))
	}
	if _, ok := p.OnPrepare("b", paxos.PrepareReply{OK: true}); ok {
		t.Fatal("a late promise sent a second accept")
	}
	p.OnAccept("a", paxos.AcceptReply{OK: true})
	if p.Done() {
		t.Fatal("done after one accept")
	}
	p.OnAccept("c", paxos.AcceptReply{OK: true})
	if p.Phase() != paxos.Chosen || len(p.Results()) != 1 || p.Results()[0].Outcome != paxos.Applied {
		t.Fatalf("phase %d results %+v", p.Phase(), p.Results())
	}
	e, ok := cache.Take("k")
	if !ok || e.Next != bal(101, "p") || !e.State.Equal(am.State) || e.Config != "e1" {
		t.Fatalf("cache after success: %+v %v", e, ok)
	}
}

func TestProposalFastPath(t *testing.T) {
	gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
	p, m := paxos.Start(round(incr("i1")), gen, 100, cache)
	choose(t, p, m)

	p2, m2 := paxos.Start(round(incr("i2")), gen, 100, cache)
	if !p2.Fast() || !m2.Accept || m2.Ballot != bal(101, "p") || m2.Promise != bal(102, "p") {
		t.Fatalf("second round: fast %v msg %+v, want an accept at the cached 101.p", p2.Fast(), m2)
	}
	if string(m2.State.Value) != "2" {
		t.Fatalf("fast accept state %s, want the cached state changed", printState(m2.State))
	}
	if cache.Len() != 0 {
		t.Fatal("the entry stayed in the cache while its ballot is in use")
	}
	// The generator moved past the cached ballot: a concurrent full round
	// takes a ballot above it.
	if b := gen.Next(0); !bal(101, "p").Less(b) {
		t.Fatalf("next ballot %v not above the fast ballot", b)
	}
	choose(t, p2, m2)
	if e, ok := cache.Take("k"); !ok || e.Next != bal(102, "p") {
		t.Fatalf("cache after the fast round: %+v", e)
	}
}

// TestProposalCacheOnlyAfterSuccess: any end but Chosen leaves the key
// uncached (gryadka cached after the prepare and reused the ballot after a
// timeout).
func TestProposalCacheOnlyAfterSuccess(t *testing.T) {
	for _, tc := range []struct {
		name  string
		end   func(p *paxos.Proposal)
		phase paxos.Phase
	}{
		{"accepts time out", func(p *paxos.Proposal) { p.OnAccept("a", paxos.AcceptReply{OK: true}); p.Expire() }, paxos.Unknown},
		{"accept errors", func(p *paxos.Proposal) {
			p.OnAccept("a", paxos.AcceptReply{OK: true})
			p.OnFail("b")
			p.OnFail("c")
		}, paxos.Unknown},
		{"accept conflicts", func(p *paxos.Proposal) {
			p.OnAccept("b", paxos.AcceptReply{Seen: bal(200, "q")})
			p.OnAccept("c", paxos.AcceptReply{Seen: bal(300, "q")})
		}, paxos.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
			p, m := paxos.Start(round(incr("i1")), gen, 100, cache)
			choose(t, p, m)
			p2, m2 := paxos.Start(round(incr("i2")), gen, 100, cache)
			if !p2.Fast() || !m2.Accept {
				t.Fatal("no fast round")
			}
			tc.end(p2)
			if p2.Phase() != tc.phase {
				t.Fatalf("phase %d, want %d", p2.Phase(), tc.phase)
			}
			if cache.Len() != 0 {
				t.Fatal("a failed round left a cache entry")
			}
			p3, m3 := paxos.Start(round(incr("i2")), gen, 100, cache)
			if p3.Fast() || m3.Accept || !m2.Ballot.Less(m3.Ballot) {
				t.Fatalf("retry: fast %v msg %+v, want a prepare above %v", p3.Fast(), m3, m2.Ballot)
			}
		})
	}
}

func TestProposalFastPathNeedsSameConfigAndFloor(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    func(r paxos.Round) paxos.Round
	}{
		{"another configuration", func(r paxos.Round) paxos.Round { r.Config = "e2"; return r }},
		{"a raised floor", func(r paxos.Round) paxos.Round { r.Floor = bal(50, "z"); return r }},
		{"a floor at the cached ballot", func(r paxos.Round) paxos.Round { r.Floor = bal(101, "p"); return r }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
			p, m := paxos.Start(round(incr("i1")), gen, 100, cache)
			choose(t, p, m)
			r := tc.r(round(incr("i2")))
			p2, m2 := paxos.Start(r, gen, 100, cache)
			if p2.Fast() || m2.Accept {
				t.Fatalf("fast path used under %s", tc.name)
			}
			if !r.Floor.Less(m2.Ballot) {
				t.Fatalf("ballot %v not above the floor %v", m2.Ballot, r.Floor)
			}
			if cache.Len() != 0 {
				t.Fatal("the stale entry stayed")
			}
		})
	}
}

func TestProposalPrepareEnds(t *testing.T) {
	gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
	// Start above a floor, whatever the clock says.
	r := round(incr("i1"))
	r.Floor = bal(1000, "z")
	p, m := paxos.Start(r, gen, 5, cache)
	if m.Ballot.Counter != 1001 {
		t.Fatalf("ballot %v, want counter 1001 (above the floor)", m.Ballot)
	}
	p.OnPrepare("a", paxos.PrepareReply{Seen: bal(2000, "q")})
	p.OnFail("b")
	if p.Phase() != paxos.NotSent || p.Seen() != bal(2000, "q") {
		t.Fatalf("phase %d seen %v, want NotSent seeing 2000.q", p.Phase(), p.Seen())
	}
	p.OnAccept("a", paxos.AcceptReply{OK: true}) // ignored
	if p.Phase() != paxos.NotSent || len(p.Results()) != 0 {
		t.Fatal("a decided round changed")
	}

	p2, _ := paxos.Start(round(incr("i1")), gen, 5, cache)
	p2.OnPrepare("a", paxos.PrepareReply{OK: true})
	p2.Expire()
	if p2.Phase() != paxos.NotSent || !p2.Done() {
		t.Fatalf("an expired prepare: phase %d, want NotSent", p2.Phase())
	}
}

func TestProposalBreach(t *testing.T) {
	gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
	p, _ := paxos.Start(round(paxos.Op{Kind: paxos.OpGet}), gen, 100, cache)
	p.OnPrepare("a", paxos.PrepareReply{OK: true, Accepted: bal(9, "q"), State: val("x", 1)})
	p.OnPrepare("b", paxos.PrepareReply{OK: true, Accepted: bal(9, "q"), State: val("y", 1)})
	if !p.Breach() {
		t.Fatal("promises with one ballot and two states: no breach")
	}

	p2, m2 := paxos.Start(round(paxos.Op{Kind: paxos.OpGet}), gen, 100, cache)
	choose(t, p2, m2) // sets a fast entry
	p3, _ := paxos.Start(round(paxos.Op{Kind: paxos.OpGet}), gen, 100, cache)
	p3.OnAccept("a", paxos.AcceptReply{Seen: p3.Ballot(), Breach: true})
	if !p3.Breach() {
		t.Fatal("an accept answered with a breach: no breach")
	}
}

// TestProposalReadStillAccepts: a read and a failed condition run the
// accept of the unchanged state (it invalidates older proposals).
func TestProposalReadStillAccepts(t *testing.T) {
	for _, op := range []paxos.Op{
		{Kind: paxos.OpGet},
		{Kind: paxos.OpSet, HasVersion: true, Version: 9, Value: []byte("x")},
	} {
		gen, cache := paxos.NewBallotGen("p"), paxos.NewCache(8)
		p, _ := paxos.Start(round(op), gen, 100, cache)
		p.OnPrepare("a", paxos.PrepareReply{OK: true, Accepted: bal(5, "q"), State: val("v", 2)})
		m, ok := p.OnPrepare("b", paxos.PrepareReply{OK: true})
		if !ok || !m.Accept || !m.State.Equal(val("v", 2)) {
			t.Fatalf("op %d: accept %+v %v, want the unchanged state accepted", op.Kind, m, ok)
		}
	}
}
