package paxossim

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/quorumkv/quorumkv/paxos"
)

// Acceptor is an in-memory acceptor: its records and its partition floor
// (one partition), the ring epoch it installed, and whether it is up.
// Every change is durable at once (the node fsyncs before replying), so a
// crash keeps all of it; what a crash loses is the messages in flight.
type Acceptor struct {
	Name  string
	recs  map[string]paxos.Record
	floor paxos.Ballot
	epoch int
	Up    bool
	// incarnation counts restarts: a message sent to an earlier
	// incarnation is lost.
	incarnation int
}

// Record returns the acceptor's record for key.
func (a *Acceptor) Record(key string) paxos.Record { return a.recs[key] }

// Floor returns the acceptor's floor.
func (a *Acceptor) Floor() paxos.Ballot { return a.floor }

// Proposer is a proposing node: a ballot generator, a fast-path cache,
// the ring epoch and floor it knows.
type Proposer struct {
	Name  string
	gen   *paxos.BallotGen
	cache *paxos.Cache
	epoch int
	floor paxos.Ballot
	Up    bool
	// fastParent: per key, the ballot a cache entry's Next follows (the
	// round that chose the cached state).
	fastParent  map[string]map[paxos.Ballot]paxos.Ballot
	incarnation int
	cacheSize   int
}

func newProposer(name string, cacheSize int) *Proposer {
	p := &Proposer{Name: name, Up: true, cacheSize: cacheSize}
	p.restart()
	return p
}

// restart forgets everything a proposer holds in memory (its generator
// restarts from the clock; ballots stay unique as long as promises are
// durable: a prepare at a ballot already used cannot win).
func (p *Proposer) restart() {
	p.gen = paxos.NewBallotGen(p.Name)
	p.cache = paxos.NewCache(p.cacheSize)
	p.epoch = 0
	p.floor = paxos.Ballot{}
	p.fastParent = map[string]map[paxos.Ballot]paxos.Ballot{}
	p.incarnation++
}

// SetFloor tells the proposer the partition's floor (as collection does
// after raising it) and drops cache entries made under another floor.
func (p *Proposer) SetFloor(f paxos.Ballot) {
	if p.floor.Less(f) {
		p.floor = f
		p.cache.DropIf(func(string, paxos.CacheEntry) bool { return true })
	}
}

// learnEpoch moves p to epoch e. Its cache entries of earlier epochs stay:
// paxos.Start refuses an entry made under another configuration, and the
// simulation relies on that alone.
func (p *Proposer) learnEpoch(e int) {
	p.epoch = max(p.epoch, e)
}

// Request is a prepare or an accept on its way to an acceptor.
type Request struct {
	Round int
	From  string
	To    string
	Key   string
	Epoch int
	Msg   paxos.Message
}

// Reply is an acceptor's answer. Stale: the acceptor refused the request's
// epoch (older than its own, or one it is no acceptor of) and reports its
// own in Epoch.
type Reply struct {
	Round   int
	From    string
	To      string
	Accept  bool
	Ballot  paxos.Ballot
	Prepare paxos.PrepareReply
	Acc     paxos.AcceptReply
	Stale   bool
	Epoch   int
}

func (r Reply) String() string {
	switch {
	case r.Stale:
		return fmt.Sprintf("%s stale, at epoch %d", r.From, r.Epoch)
	case !r.Accept && r.Prepare.OK:
		return fmt.Sprintf("%s promised %v (accepted %v)", r.From, r.Ballot, r.Prepare.Accepted)
	case !r.Accept:
		return fmt.Sprintf("%s refused prepare %v (seen %v)", r.From, r.Ballot, r.Prepare.Seen)
	case r.Acc.OK:
		return fmt.Sprintf("%s accepted %v", r.From, r.Ballot)
	}
	return fmt.Sprintf("%s refused accept %v (seen %v)", r.From, r.Ballot, r.Acc.Seen)
}

// Round is one proposal in flight, with what the checker needs to know of
// it: the promises fed to it (to name the state it adopts) and the
// acceptors that acknowledged its accept (also after it was decided).
type Round struct {
	ID       int
	Proposer *Proposer
	Key      string
	Ops      []paxos.Op
	P        *paxos.Proposal
	Epoch    int
	Quorum   paxos.Quorum
	// Msg is the message in flight (the prepare, then the accept).
	Msg        paxos.Message
	AcceptSent bool
	// Acks: acceptors that acknowledged the accept.
	Acks map[string]bool

	promises []Reply
	answered map[string]bool
	reported bool
}

// Done reports a decided round.
func (r *Round) Done() bool { return r.P.Done() }

// Cluster is a set of acceptors and proposers around one Checker; rounds
// are started and messages handled by hand (scripted tests) or by Run.
// Every action is checked as it happens.
type Cluster struct {
	Checker   *Checker
	acceptors []*Acceptor
	byName    map[string]*Acceptor
	proposers []*Proposer
	// epochs[e] is the acceptor configuration of ring epoch e.
	epochs []paxos.Quorum
	window int
	rounds int
}

// NewCluster returns acceptors with the given names (epoch 0: all of
// them, a plain majority) and proposers, their changes applied with
// window recent ids.
func NewCluster(acceptors, proposers []string, window int) *Cluster {
	c := &Cluster{Checker: NewChecker(window), byName: map[string]*Acceptor{}, window: window}
	for _, n := range acceptors {
		a := &Acceptor{Name: n, recs: map[string]paxos.Record{}, Up: true}
		c.acceptors = append(c.acceptors, a)
		c.byName[n] = a
	}
	for _, n := range proposers {
		c.proposers = append(c.proposers, newProposer(n, 64))
	}
	c.epochs = []paxos.Quorum{{Old: slices.Clone(acceptors)}}
	return c
}

// AddAcceptor adds an acceptor that belongs to no configuration yet.
func (c *Cluster) AddAcceptor(name string) *Acceptor {
	a := &Acceptor{Name: name, recs: map[string]paxos.Record{}, Up: true}
	c.acceptors = append(c.acceptors, a)
	c.byName[name] = a
	return a
}

// Acceptor returns the named acceptor.
func (c *Cluster) Acceptor(name string) *Acceptor { return c.byName[name] }

// Acceptors returns every acceptor.
func (c *Cluster) Acceptors() []*Acceptor { return c.acceptors }

// Proposer returns the named proposer.
func (c *Cluster) Proposer(name string) *Proposer {
	for _, p := range c.proposers {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Proposers returns every proposer.
func (c *Cluster) Proposers() []*Proposer { return c.proposers }

// Epoch returns the latest epoch and its configuration.
func (c *Cluster) Epoch() (int, paxos.Quorum) { return len(c.epochs) - 1, c.epochs[len(c.epochs)-1] }

// AddEpoch appends a configuration and returns its epoch.
func (c *Cluster) AddEpoch(q paxos.Quorum) int {
	c.epochs = append(c.epochs, q)
	return len(c.epochs) - 1
}

// Install sets acceptor a's epoch (never backwards).
func (c *Cluster) Install(a *Acceptor, epoch int) {
	a.epoch = max(a.epoch, epoch)
}

// Start begins a round on p for key (nowMicros: p's clock). If the round
// took the fast path, its accept is already the message in flight.
func (c *Cluster) Start(p *Proposer, key string, ops []paxos.Op, nowMicros uint64) *Round {
	return c.StartRound(p, key, ops, nowMicros, false)
}

// StartRound is Start with reads that may end at their prepare
// (paxos.Round.ReadAtPrepare).
func (c *Cluster) StartRound(p *Proposer, key string, ops []paxos.Op, nowMicros uint64, readAtPrepare bool) *Round {
	c.rounds++
	q := c.epochs[p.epoch]
	prop, msg := paxos.Start(paxos.Round{Key: key, Quorum: q, Config: strconv.Itoa(p.epoch), Floor: p.floor, Ops: ops, Window: c.window,
		ReadAtPrepare: readAtPrepare}, p.gen, nowMicros, p.cache)
	r := &Round{ID: c.rounds, Proposer: p, Key: key, Ops: ops, P: prop, Epoch: p.epoch, Quorum: q, Acks: map[string]bool{}, answered: map[string]bool{}}
	c.setMsg(r, msg)
	return r
}

// Requests returns the message in flight as one request per acceptor of
// the round's configuration.
func (c *Cluster) Requests(r *Round) []Request {
	var out []Request
	for _, n := range r.Quorum.Acceptors() {
		out = append(out, c.RequestTo(r, n))
	}
	return out
}

// RequestTo returns the message in flight addressed to acceptor n.
func (c *Cluster) RequestTo(r *Round, n string) Request {
	return Request{Round: r.ID, From: r.Proposer.Name, To: n, Key: r.Key, Epoch: r.Epoch, Msg: r.Msg}
}

func (c *Cluster) setMsg(r *Round, m paxos.Message) {
	r.Msg = m
	r.answered = map[string]bool{}
	if !m.Accept {
		return
	}
	r.AcceptSent = true
	var parent paxos.Ballot
	var parentState paxos.State
	known := true
	if r.P.Fast() {
		parent, known = r.Proposer.fastParent[r.Key][m.Ballot]
		if !known {
			c.Checker.fail("%s: %s took a fast accept at %v that no chosen round of its cached", r.Key, r.Proposer.Name, m.Ballot)
		}
		delete(r.Proposer.fastParent[r.Key], m.Ballot)
		parentState, _ = c.Checker.stateAt(r.Key, parent)
	} else {
		var high paxos.Ballot
		for i, pr := range r.promises {
			if i == 0 || high.Less(pr.Prepare.Accepted) {
				high, parentState = pr.Prepare.Accepted, pr.Prepare.State
			}
		}
		parent = c.Checker.parentOf(r.Key, high)
	}
	c.Checker.proposed(r.Key, m.Ballot, parent, parentState, known, r.Ops, m.State, r.Quorum)
}

// Handle is acceptor req.To handling req: the epoch check, then the
// prepare or accept rules, checked. The caller makes sure the acceptor is
// up.
func (c *Cluster) Handle(req Request) Reply {
	a := c.byName[req.To]
	rep := Reply{Round: req.Round, From: a.Name, To: req.From, Accept: req.Msg.Accept, Ballot: req.Msg.Ballot}
	if req.Epoch > a.epoch && req.Epoch < len(c.epochs) {
		a.epoch = req.Epoch // a newer epoch installed elsewhere: learn it
	}
	if req.Epoch < a.epoch || !c.epochs[a.epoch].Contains(a.Name) {
		rep.Stale, rep.Epoch = true, a.epoch
		return rep
	}
	before := a.recs[req.Key]
	if req.Msg.Accept {
		next, reply, write := paxos.Accept(before, a.floor, req.Msg.Ballot, req.Msg.State, req.Msg.Promise)
		if write {
			a.recs[req.Key] = next
		}
		rep.Acc = reply
		c.Checker.accepted(a.Name, req.Key, before, a.floor, req.Msg.Ballot, req.Msg.State, reply, a.recs[req.Key])
		return rep
	}
	next, reply, write := paxos.Prepare(before, a.floor, req.Msg.Ballot)
	if write {
		a.recs[req.Key] = next
	}
	rep.Prepare = reply
	c.Checker.prepared(a.Name, req.Key, before, a.floor, req.Msg.Ballot, reply, a.recs[req.Key])
	return rep
}

// Feed gives a reply to its round. It returns true when the round has a
// new message to send (its accept, once a quorum promised).
func (c *Cluster) Feed(r *Round, rep Reply) bool {
	if rep.Accept && rep.Ballot == r.Msg.Ballot && r.Msg.Accept && rep.Acc.OK {
		r.Acks[rep.From] = true
	}
	if rep.Stale {
		r.Proposer.learnEpoch(rep.Epoch)
	}
	current := rep.Accept == r.Msg.Accept && rep.Ballot == r.Msg.Ballot
	if !current || r.P.Done() {
		return false
	}
	if rep.Stale {
		m, ok := r.P.OnFail(rep.From)
		return c.after(r, m, ok)
	}
	if !rep.Accept {
		if r.Quorum.Contains(rep.From) && !r.answered[rep.From] {
			r.answered[rep.From] = true
			if rep.Prepare.OK {
				r.promises = append(r.promises, rep)
			}
		}
		m, ok := r.P.OnPrepare(rep.From, rep.Prepare)
		return c.after(r, m, ok)
	}
	r.P.OnAccept(rep.From, rep.Acc)
	return c.after(r, paxos.Message{}, false)
}

// unanimous returns the accepted ballot every promise of r reports, and
// fails the run when they differ.
func (c *Cluster) unanimous(r *Round) paxos.Ballot {
	if len(r.promises) == 0 {
		c.Checker.fail("%s: round %d of %s chosen at its prepare without promises", r.Key, r.ID, r.Proposer.Name)
		return paxos.Ballot{}
	}
	acc := r.promises[0].Prepare.Accepted
	for _, pr := range r.promises[1:] {
		if pr.Prepare.Accepted != acc {
			c.Checker.fail("%s: round %d of %s chosen at its prepare with promises at %v and %v", r.Key, r.ID, r.Proposer.Name, acc, pr.Prepare.Accepted)
		}
	}
	return acc
}

// Fail tells r that acceptor n will not answer the message in flight.
func (c *Cluster) Fail(r *Round, n string) bool {
	if r.P.Done() {
		return false
	}
	m, ok := r.P.OnFail(n)
	return c.after(r, m, ok)
}

// Expire ends r as its deadline passes.
func (c *Cluster) Expire(r *Round) {
	r.P.Expire()
	c.after(r, paxos.Message{}, false)
}

func (c *Cluster) after(r *Round, m paxos.Message, next bool) bool {
	if r.P.Breach() {
		c.Checker.fail("%s: round %d of %s saw a breach", r.Key, r.ID, r.Proposer.Name)
	}
	if next {
		c.setMsg(r, m)
	}
	if r.P.Done() && !r.reported {
		r.reported = true
		if r.P.Phase() == paxos.Chosen {
			fp := r.Proposer.fastParent[r.Key]
			if fp == nil {
				fp = map[paxos.Ballot]paxos.Ballot{}
				r.Proposer.fastParent[r.Key] = fp
			}
			if r.P.AtPrepare() {
				// A read chosen at its prepare: the quorum's one accepted
				// ballot must be chosen, and the promised ballot follows it.
				acc := c.unanimous(r)
				if !acc.IsZero() {
					c.Checker.proposerChose(r.Key, acc)
				}
				fp[r.P.Ballot()] = c.Checker.parentOf(r.Key, acc)
			} else {
				c.Checker.proposerChose(r.Key, r.P.Ballot())
				fp[paxos.Ballot{Counter: r.P.Ballot().Counter + 1, Node: r.P.Ballot().Node}] = r.P.Ballot()
			}
		}
		if s := r.P.Seen(); !s.IsZero() {
			r.Proposer.gen.Observe(s)
		}
	}
	return next
}

// Deliver hands the round's message in flight (as it is when called) to
// each named acceptor and each reply back to the round at once. Once a
// quorum promised, the round's accept is the next message in flight.
func (c *Cluster) Deliver(r *Round, names ...string) {
	var reqs []Request
	for _, n := range names {
		reqs = append(reqs, c.RequestTo(r, n))
	}
	for _, req := range reqs {
		c.DeliverRequest(r, req)
	}
}

// DeliverRequest hands one request (maybe held back since it was made) to
// its acceptor and the reply to r.
func (c *Cluster) DeliverRequest(r *Round, req Request) Reply {
	rep := c.Handle(req)
	c.Feed(r, rep)
	c.Checker.Step()
	return rep
}

// Removal names a register collection removes where it still holds the
// tombstone accepted at Ballot.
type Removal struct {
	Key    string
	Ballot paxos.Ballot
}

// RaiseFloorAndRemove is collection's step 2 on one acceptor, in one
// durable step: floor := max(floor, the removals' ballots) and every record
// that still holds the tombstone at its removal's ballot is removed. With
// coverPromises the floor also rises to the promise of every removed
// record, so removing a record never lowers what the acceptor promised;
// without, the piggybacked or later promises of the removed records are
// forgotten (the checker reports that).
func (c *Cluster) RaiseFloorAndRemove(node string, removals []Removal, coverPromises bool) (removed []string) {
	a := c.byName[node]
	floor := a.floor
	for _, rm := range removals {
		floor = maxB(floor, rm.Ballot)
	}
	for _, rm := range removals {
		rec, ok := a.recs[rm.Key]
		if !ok || rec.Accepted != rm.Ballot || rec.State.Exists {
			continue
		}
		if coverPromises {
			floor = maxB(floor, rec.Promise)
		}
		delete(a.recs, rm.Key)
		removed = append(removed, rm.Key)
		c.Checker.removedRecords(rm.Key, rm.Ballot)
	}
	a.floor = floor
	for _, k := range slices.Sorted(maps.Keys(a.recs)) {
		c.Checker.recorded(a.Name, k, a.recs[k], a.floor)
	}
	for _, k := range removed {
		c.Checker.recorded(a.Name, k, paxos.Record{}, a.floor)
	}
	c.Checker.Step()
	return removed
}

// Scan checks every acceptor's every record against the checker's truth
// (invariants 1 and 3 over the whole state, not only what changed).
func (c *Cluster) Scan() {
	for _, a := range c.acceptors {
		for _, k := range slices.Sorted(maps.Keys(a.recs)) {
			c.Checker.recorded(a.Name, k, a.recs[k], a.floor)
		}
	}
}

// Read returns the state a prepare at an unused ballot would adopt from
// the named acceptors (without changing them): the state of the highest
// accepted ballot among their records (the zero State if none).
func (c *Cluster) Read(key string, names ...string) (paxos.State, paxos.Ballot) {
	var high paxos.Ballot
	var s paxos.State
	for _, n := range names {
		rec := c.byName[n].recs[key]
		if high.Less(rec.Accepted) {
			high, s = rec.Accepted, rec.State
		}
	}
	return s, high
}
