package paxos

// Phase is where a proposal stands.
type Phase uint8

const (
	// Preparing: a prepare is out.
	Preparing Phase = iota + 1
	// Accepting: an accept is out.
	Accepting
	// Chosen: a quorum accepted; Results hold the answers.
	Chosen
	// NotSent: the round failed before any accept left the proposer:
	// nothing of it can ever be chosen (definite).
	NotSent
	// Unknown: an accept was sent and no quorum acknowledged it: it may be
	// chosen later, or never.
	Unknown
)

// Message is what a proposal asks the runtime to send to every acceptor
// of its quorum.
type Message struct {
	// Accept: an accept of State at Ballot with Promise piggybacked;
	// otherwise a prepare at Ballot.
	Accept  bool
	Ballot  Ballot
	State   State
	Promise Ballot
}

// Proposal is one round of CASPaxos for one register and a batch of
// changes, as a pure state machine: Start returns the first message, the
// runtime feeds every acceptor's answer (or failure) back, and the
// proposal tells the runtime what to send next and, once decided, the
// outcome. A proposal runs one round; a runtime that retries starts a new
// one (with a fresh ballot: the changes carry ids, so a change the failed
// round left accepted somewhere is not applied twice).
type Proposal struct {
	key    string
	q      Quorum
	config string
	floor  Ballot
	ops    []Op
	window int
	cache  *Cache
	// readAtPrepare: the round may end at its prepare (Round.ReadAtPrepare
	// and every operation a read).
	readAtPrepare bool

	phase   Phase
	fast    bool
	ballot  Ballot
	base    uint64
	state   State
	results []Result
	prep    *PrepareTally
	acc     *AcceptTally
	seen    Ballot
	breach  bool
}

// Round describes a proposal to start.
type Round struct {
	Key    string
	Quorum Quorum
	// Config names the configuration (epoch and acceptor sets) and Floor
	// the partition floor the proposer knows; a cached fast path made
	// under another configuration or floor is not used.
	Config string
	Floor  Ballot
	Ops    []Op
	Window int
	// ReadAtPrepare lets a round whose operations are all reads (none of
	// them a retry) end at its prepare, with no accept, when no promise of
	// the quorum reports an accepted state: the register is absent. Every
	// change acknowledged before the round began was accepted by a quorum
	// (and a partition that moved brings its chosen registers to enough
	// new replicas to meet every quorum), so it would show. The
	// prepare's ballot, promised by a quorum and never used, becomes the
	// key's fast path: the next change accepts at it, as a classic round
	// would after the same promises. A register some promise reports
	// accepted always runs the accept: a quorum agreeing on one ballot
	// does not prove it chosen once records are copied between replicas
	// (a partition that moves, a replica refilled) or were accepted under
	// a joint configuration. Rounds that must write the state to every
	// acceptor (collection) leave it off.
	ReadAtPrepare bool
}

// Start begins a round. With a cache entry for the key made under the
// same configuration and floor, the round skips the prepare (the fast
// path); otherwise it takes a fresh ballot from gen (nowMicros is the
// caller's clock). The entry is taken out of the cache either way.
func Start(r Round, gen *BallotGen, nowMicros uint64, cache *Cache) (*Proposal, Message) {
	p := &Proposal{key: r.Key, q: r.Quorum, config: r.Config, floor: r.Floor, ops: r.Ops, window: r.Window, cache: cache,
		readAtPrepare: r.ReadAtPrepare && readsOnly(r.Ops)}
	if e, ok := cache.Take(r.Key); ok && e.Config == r.Config && e.Floor == r.Floor && r.Floor.Less(e.Next) {
		p.fast = true
		gen.Observe(e.Next)
		return p, p.accept(e.Next, e.State)
	}
	p.ballot = gen.Next(max(nowMicros, r.Floor.Counter+1))
	p.phase = Preparing
	p.prep = NewPrepareTally(r.Quorum)
	return p, Message{Ballot: p.ballot}
}

func (p *Proposal) accept(b Ballot, current State) Message {
	p.ballot, p.base = b, current.Version
	p.state, p.results = ApplyAll(current, p.ops, p.window)
	p.phase = Accepting
	p.acc = NewAcceptTally(p.q)
	return Message{Accept: true, Ballot: b, State: p.state, Promise: successor(b)}
}

// OnPrepare feeds from's answer to the prepare. It returns the accept to
// send once a quorum promised.
func (p *Proposal) OnPrepare(from string, r PrepareReply) (Message, bool) {
	if p.phase != Preparing {
		return Message{}, false
	}
	p.prep.Add(from, r)
	return p.afterPrepare()
}

func (p *Proposal) afterPrepare() (Message, bool) {
	switch p.prep.Decision() {
	case Won:
		p.breach = p.breach || p.prep.Breach()
		cur, _ := p.prep.Current()
		if p.readAtPrepare && p.prep.NoneAccepted() && !p.breach {
			p.chooseAtPrepare(cur)
			return Message{}, false
		}
		return p.accept(p.ballot, cur), true
	case Lost:
		p.seen = p.prep.Seen()
		p.phase = NotSent
	}
	return Message{}, false
}

// chooseAtPrepare answers a round of reads on a register no promise
// reports accepted, and caches the promised ballot for the key's next
// change.
func (p *Proposal) chooseAtPrepare(cur State) {
	p.base = cur.Version
	p.state, p.results = ApplyAll(cur, p.ops, p.window)
	p.phase = Chosen
	p.cache.Put(p.key, CacheEntry{Next: p.ballot, State: cur, Config: p.config, Floor: p.floor})
}

// readsOnly reports a batch of reads, none of them a retry.
func readsOnly(ops []Op) bool {
	for _, op := range ops {
		if op.Kind != OpGet || op.Retry {
			return false
		}
	}
	return len(ops) > 0
}

// OnAccept feeds from's answer to the accept.
func (p *Proposal) OnAccept(from string, r AcceptReply) {
	if p.phase != Accepting {
		return
	}
	p.acc.Add(from, r)
	p.afterAccept()
}

func (p *Proposal) afterAccept() {
	p.breach = p.breach || p.acc.Breach()
	switch p.acc.Decision() {
	case Won:
		p.phase = Chosen
		p.cache.Put(p.key, CacheEntry{Next: successor(p.ballot), State: p.state, Config: p.config, Floor: p.floor})
	case Lost:
		p.seen = p.acc.Seen()
		p.phase = Unknown
	}
}

// OnFail records that from will not answer the message in flight (an
// error, a timeout, a refusal that is not about ballots).
func (p *Proposal) OnFail(from string) (Message, bool) {
	switch p.phase {
	case Preparing:
		p.prep.Fail(from)
		return p.afterPrepare()
	case Accepting:
		p.acc.Fail(from)
		p.afterAccept()
	}
	return Message{}, false
}

// Expire ends a round whose answers did not come in time: a prepare
// becomes NotSent, an accept Unknown.
func (p *Proposal) Expire() {
	switch p.phase {
	case Preparing:
		p.phase = NotSent
	case Accepting:
		p.phase = Unknown
	}
}

// Phase returns where the round stands.
func (p *Proposal) Phase() Phase { return p.phase }

// Done reports a decided round (Chosen, NotSent or Unknown).
func (p *Proposal) Done() bool { return p.phase >= Chosen }

// Results returns each change's answer once Chosen.
func (p *Proposal) Results() []Result { return p.results }

// State returns the state the round accepts (Accepting, Chosen).
func (p *Proposal) State() State { return p.state }

// Base returns the version of the state the round's accept was computed
// from (Accepting, Chosen, Unknown).
func (p *Proposal) Base() uint64 { return p.base }

// AtPrepare reports a round of reads that ended at its prepare.
func (p *Proposal) AtPrepare() bool { return p.phase == Chosen && p.acc == nil }

// Fast reports a round that skipped the prepare.
func (p *Proposal) Fast() bool { return p.fast }

// Ballot returns the round's ballot.
func (p *Proposal) Ballot() Ballot { return p.ballot }

// Seen returns the highest ballot that refused the round: the runtime
// fast-forwards its generator past it before the next round.
func (p *Proposal) Seen() Ballot { return p.seen }

// Breach reports that an acceptor answered with the round's ballot and
// another state, or promises held one ballot with two states: an
// invariant broken, to be counted and reported.
func (p *Proposal) Breach() bool { return p.breach }
