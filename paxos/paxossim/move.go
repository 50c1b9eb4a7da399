package paxossim

import (
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/paxos"
)

// mover drives ring changes, one at a time, as CASPAXOS.md §2.3 steps 1–3
// describe: install the joint epoch (Old, New) on every New acceptor and a
// majority of Old (new acceptors first adopt the highest floor of Old),
// run an identity round per key under joint quorums, then install the
// epoch of New alone.
type mover struct {
	done     int
	old, new []string
	leaving  string
	keyIdx   int
}

func (s *simulation) moverProposer() *Proposer { return s.c.Proposer("mover") }

// moveStep starts the next move: it installs the joint epoch, or waits
// while an acceptor it needs is down.
func (s *simulation) moveStep() {
	m := s.mover
	_, cur := s.c.Epoch()
	m.old = slices.Clone(cur.Old)
	// The oldest acceptor leaves: as many moves as acceptors replace them
	// all (the paper's warning: a rescan must really run for every key).
	m.leaving = m.old[0]
	joining := fmt.Sprintf("a%d", s.cfg.Acceptors+m.done+1)
	m.new = append(slices.DeleteFunc(slices.Clone(m.old), func(n string) bool { return n == m.leaving }), joining)
	upOld := 0
	var floor paxos.Ballot
	for _, n := range m.old {
		if a := s.c.Acceptor(n); a.Up {
			upOld++
			floor = maxB(floor, a.floor)
		}
	}
	allNew := true
	for _, n := range m.new {
		allNew = allNew && s.c.Acceptor(n).Up
	}
	if upOld <= len(m.old)/2 || !allNew {
		s.logf("move waits: %d of old up, all new up %v", upOld, allNew)
		s.schedule(&event{kind: evMove}, 20)
		return
	}
	joint := s.c.AddEpoch(paxos.Quorum{Old: m.old, New: m.new})
	s.c.Acceptor(joining).floor = maxB(s.c.Acceptor(joining).floor, floor)
	for _, n := range append(slices.Clone(m.old), joining) {
		if a := s.c.Acceptor(n); a.Up {
			s.c.Install(a, joint)
		}
	}
	s.moverProposer().learnEpoch(joint)
	s.logf("move %d: joint epoch %d old %v new %v", m.done+1, joint, m.old, m.new)
	m.keyIdx = 0
	if s.cfg.SkipCatchUp {
		s.finishMove()
		return
	}
	s.catchUp()
}

// catchUp runs the identity round of the next key under joint quorums,
// retried until chosen; after the last key the move finishes.
func (s *simulation) catchUp() {
	m := s.mover
	if m.keyIdx == len(s.keys) {
		s.finishMove()
		return
	}
	key := s.keys[m.keyIdx]
	m.keyIdx++
	req := &request{client: s.cfg.Clients + 1, key: key, op: paxos.Op{Kind: paxos.OpGet}, proposer: s.moverProposer(), call: s.tick(), unlimited: true}
	req.done = func(*request, paxos.Result) { s.catchUp() }
	s.logf("move catch-up %s", key)
	s.attempt(req)
}

// finishMove installs the epoch of New alone on every New acceptor and
// every leaving one that is up (leaving acceptors then refuse everything).
func (s *simulation) finishMove() {
	m := s.mover
	e := s.c.AddEpoch(paxos.Quorum{Old: m.new})
	for _, n := range append(slices.Clone(m.new), m.leaving) {
		if a := s.c.Acceptor(n); a.Up {
			s.c.Install(a, e)
		}
	}
	s.moverProposer().learnEpoch(e)
	s.stats.Moves++
	s.logf("move %d: epoch %d is %v", m.done+1, e, m.new)
	m.done++
	if m.done < s.cfg.Moves {
		s.schedule(&event{kind: evMove}, 50+int64(s.rng.IntN(100)))
	}
}
