package paxossim

import (
	"container/heap"
	"fmt"
	"hash"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

// Stats counts what happened in a run.
type Stats struct {
	Steps            int
	Messages         int
	Dropped          int
	Duplicated       int
	Rounds           int
	FastRounds       int
	ChosenRounds     int
	ReadsAtPrepare   int // chosen rounds of reads that ended at their prepare
	NotSentRounds    int
	UnknownRounds    int
	Ops              int // client operations issued
	Acked            int // answered with a result
	UnknownOps       int // answered "outcome unknown"
	FailedOps        int // answered "not applied" (no accept ever left)
	AcceptorCrashes  int
	ProposerCrashes  int
	Cuts             int
	Moves            int
	DoubleApplied    int // ids applied twice with more than Window changes between (the window's limit)
	ExactlyOnceIncrs int // acknowledged increments found applied exactly once
}

// Report is a run's outcome: the trace hash (a function of the config),
// the broken invariants, the client history for porcupine and counts.
type Report struct {
	Trace      uint64
	Violations []Violation
	History    []porcupine.Operation
	Stats      Stats
}

type evKind uint8

const (
	evRequest evKind = iota + 1
	evReply
	evTimeout
	evClient
	evRetry
	evFault
	evHeal
	evRestartAcceptor
	evRestartProposer
	evMove
)

type event struct {
	at, seq int64
	kind    evKind
	req     Request
	rep     Reply
	inc     int
	round   int
	accept  bool
	ballot  paxos.Ballot
	client  int
	r       *request
	name    string
	link    [2]string
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// request is a client operation at a proposer, across its attempts.
type request struct {
	client   int
	key      string
	op       paxos.Op
	call     int64
	proposer *Proposer
	attempts int
	unknown  bool
	// unlimited: retried until chosen (final reads, catch-up rounds).
	unlimited bool
	round     *Round
	done      func(r *request, res paxos.Result)
}

type client struct {
	id      int
	issued  int
	busy    bool
	n       int
	version map[string]uint64
}

// opStatus is how an operation with an id ended, for the exactly-once
// count.
type opStatus struct {
	key     string
	kind    paxos.OpKind
	acked   bool
	applied bool // acked with outcome Applied
	unknown bool
}

// simulation is one run.
type simulation struct {
	cfg     Config
	rng     *rand.Rand
	c       *Cluster
	now     int64
	seq     int64
	queue   eventQueue
	trace   hash.Hash64
	keys    []string
	clients []*client
	live    map[int]*request
	history []porcupine.Operation
	hist    int64
	ops     map[string]*opStatus
	opOrder []string
	cut     map[[2]string]bool
	skew    map[string]int64
	stats   Stats
	final   map[string]paxos.Ballot
	finals  int
	settled bool
	mover   *mover
}

// Run runs the simulation cfg describes.
func Run(cfg Config) (Report, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	cfg = cfg.withDefaults()
	s := &simulation{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		trace: fnv.New64a(),
		live:  map[int]*request{},
		ops:   map[string]*opStatus{},
		cut:   map[[2]string]bool{},
		skew:  map[string]int64{},
		final: map[string]paxos.Ballot{},
	}
	var accs, props []string
	for i := range cfg.Acceptors {
		accs = append(accs, fmt.Sprintf("a%d", i+1))
	}
	for i := range cfg.Proposers {
		props = append(props, fmt.Sprintf("p%d", i+1))
	}
	if cfg.Moves > 0 {
		props = append(props, "mover")
	}
	s.c = NewCluster(accs, props, cfg.Window)
	for i := range cfg.Moves {
		s.c.AddAcceptor(fmt.Sprintf("a%d", cfg.Acceptors+i+1))
	}
	for _, p := range s.c.proposers {
		s.skew[p.Name] = s.rng.Int64N(4)
	}
	for i := range cfg.Keys {
		s.keys = append(s.keys, fmt.Sprintf("k%d", i))
	}
	for i := range cfg.Clients {
		s.clients = append(s.clients, &client{id: i, version: map[string]uint64{}})
		s.schedule(&event{kind: evClient, client: i}, int64(s.rng.IntN(10)))
	}
	if cfg.FaultEvery > 0 {
		s.schedule(&event{kind: evFault}, cfg.FaultEvery)
	}
	if cfg.Moves > 0 {
		s.mover = &mover{}
		s.schedule(&event{kind: evMove}, 50+int64(s.rng.IntN(100)))
	}
	for s.queue.Len() > 0 {
		if s.stats.Steps >= cfg.MaxSteps {
			s.c.Checker.fail("the run did not settle within %d steps", cfg.MaxSteps)
			break
		}
		e := heap.Pop(&s.queue).(*event)
		s.now = e.at
		s.stats.Steps++
		s.c.Checker.Step()
		s.handle(e)
		s.c.Scan()
		s.maybeSettle()
	}
	if !s.settled || s.finals < len(s.keys) {
		s.c.Checker.fail("the run ended before its final reads (%d of %d)", s.finals, len(s.keys))
	} else {
		s.checkExactlyOnce()
	}
	return Report{Trace: s.trace.Sum64(), Violations: s.c.Checker.Violations(), History: s.history, Stats: s.stats}, nil
}

func (s *simulation) schedule(e *event, after int64) {
	s.seq++
	e.at, e.seq = s.now+after, s.seq
	heap.Push(&s.queue, e)
}

func (s *simulation) logf(format string, args ...any) {
	fmt.Fprintf(s.trace, "%d ", s.now)
	fmt.Fprintf(s.trace, format, args...)
	s.trace.Write([]byte{'\n'})
}

func (s *simulation) delay() int64 {
	return s.cfg.MinDelay + s.rng.Int64N(s.cfg.MaxDelay-s.cfg.MinDelay+1)
}

// transmit puts a message on the network: maybe dropped, maybe twice.
func (s *simulation) transmit(e *event, from, to string) {
	s.stats.Messages++
	if s.rng.Float64() < s.cfg.Drop {
		s.stats.Dropped++
		s.logf("drop %s->%s", from, to)
		return
	}
	s.schedule(e, s.delay())
	if s.rng.Float64() < s.cfg.Duplicate {
		s.stats.Duplicated++
		dup := *e
		s.schedule(&dup, s.delay())
	}
}

func (s *simulation) linkCut(a, b string) bool { return s.cut[[2]string{a, b}] }

func (s *simulation) handle(e *event) {
	switch e.kind {
	case evRequest:
		a := s.c.Acceptor(e.req.To)
		if !a.Up || a.incarnation != e.inc || s.linkCut(e.req.From, e.req.To) {
			s.logf("lost %s->%s round %d", e.req.From, e.req.To, e.req.Round)
			return
		}
		rep := s.c.Handle(e.req)
		s.logf("handle %s round %d %s", e.req.To, e.req.Round, rep)
		p := s.c.Proposer(e.req.From)
		s.transmit(&event{kind: evReply, rep: rep, inc: p.incarnation}, rep.From, rep.To)
	case evReply:
		p := s.c.Proposer(e.rep.To)
		if !p.Up || p.incarnation != e.inc || s.linkCut(e.rep.To, e.rep.From) {
			s.logf("lost reply %s->%s round %d", e.rep.From, e.rep.To, e.rep.Round)
			return
		}
		req := s.live[e.rep.Round]
		if req == nil {
			s.logf("late reply %s round %d", e.rep, e.rep.Round)
			return
		}
		r := req.round
		s.logf("reply round %d %s", r.ID, e.rep)
		if s.c.Feed(r, e.rep) {
			s.send(r)
		}
		s.maybeFinish(req)
	case evTimeout:
		req := s.live[e.round]
		if req == nil {
			return
		}
		r := req.round
		if r.Msg.Accept != e.accept || r.Msg.Ballot != e.ballot {
			return
		}
		s.logf("timeout round %d", r.ID)
		s.c.Expire(r)
		s.maybeFinish(req)
	case evClient:
		s.issue(s.clients[e.client])
	case evRetry:
		s.attempt(e.r)
	case evFault:
		s.fault()
		if !s.settled {
			s.schedule(&event{kind: evFault}, s.cfg.FaultEvery)
		}
	case evHeal:
		delete(s.cut, e.link)
		s.logf("heal %s-%s", e.link[0], e.link[1])
	case evRestartAcceptor:
		a := s.c.Acceptor(e.name)
		if !a.Up {
			a.Up = true
			s.logf("restart %s", a.Name)
		}
	case evRestartProposer:
		p := s.c.Proposer(e.name)
		if !p.Up {
			p.Up = true
			s.logf("restart %s", p.Name)
		}
	case evMove:
		s.moveStep()
	}
}

// send transmits the round's message in flight to its acceptors and arms
// the phase's timeout.
func (s *simulation) send(r *Round) {
	if r.Msg.Accept {
		s.logf("round %d accept %v", r.ID, r.Msg.Ballot)
	} else {
		s.logf("round %d prepare %v", r.ID, r.Msg.Ballot)
	}
	for _, req := range s.c.Requests(r) {
		a := s.c.Acceptor(req.To)
		s.transmit(&event{kind: evRequest, req: req, inc: a.incarnation}, req.From, req.To)
	}
	s.schedule(&event{kind: evTimeout, round: r.ID, accept: r.Msg.Accept, ballot: r.Msg.Ballot}, s.cfg.Timeout)
}

// clock is p's clock for its ballots: coarse (one unit a tick) and a
// little skewed, so ballots of different proposers often share a counter
// and fall between a ballot and its piggybacked successor. A proposer
// restarts with its clock set back (see crashProposer).
func (s *simulation) clock(p *Proposer) uint64 { return uint64(max(s.now+s.skew[p.Name], 0)) }

// issue starts a client's next operation.
func (s *simulation) issue(cl *client) {
	if cl.issued >= s.cfg.OpsPerClient {
		return
	}
	cl.issued++
	cl.busy = true
	key := s.keys[s.rng.IntN(len(s.keys))]
	op := s.randomOp(cl, key)
	p := s.c.proposers[s.rng.IntN(s.cfg.Proposers)]
	if pref := s.preferred(key); s.rng.IntN(4) != 0 {
		p = pref
	}
	s.stats.Ops++
	req := &request{client: cl.id, key: key, op: op, proposer: p, call: s.tick()}
	req.done = func(req *request, res paxos.Result) {
		cl.busy = false
		if res.Outcome != 0 {
			cl.version[key] = res.Version
		}
		s.schedule(&event{kind: evClient, client: cl.id}, int64(s.rng.IntN(20)))
	}
	if len(op.ID) > 0 {
		s.ops[string(op.ID)] = &opStatus{key: key, kind: op.Kind}
		s.opOrder = append(s.opOrder, string(op.ID))
	}
	s.logf("client %d issues %s via %s", cl.id, describeInput(InputOf(key, op)), p.Name)
	s.attempt(req)
}

func (s *simulation) preferred(key string) *Proposer {
	h := fnv.New32a()
	h.Write([]byte(key))
	return s.c.proposers[int(h.Sum32())%s.cfg.Proposers]
}

func (s *simulation) randomOp(cl *client, key string) paxos.Op {
	cl.n++
	id := []byte(fmt.Sprintf("c%d.%d", cl.id, cl.n))
	value := func() []byte {
		if s.rng.IntN(20) == 0 {
			return []byte("x")
		}
		return []byte(strconv.Itoa(s.rng.IntN(100)))
	}
	expect := func() uint64 {
		v := cl.version[key]
		if s.rng.IntN(5) == 0 {
			v += uint64(s.rng.IntN(3))
		}
		return v
	}
	switch r := s.rng.IntN(100); {
	case r < 30:
		return paxos.Op{Kind: paxos.OpGet}
	case r < 42:
		return paxos.Op{Kind: paxos.OpSet, ID: id, Value: value()}
	case r < 62:
		return paxos.Op{Kind: paxos.OpSet, ID: id, Value: value(), HasVersion: true, Version: expect()}
	case r < 67:
		return paxos.Op{Kind: paxos.OpSet, ID: id, Value: value(), ExpectAbsent: true}
	case r < 72:
		op := paxos.Op{Kind: paxos.OpDelete, ID: id}
		if s.rng.IntN(2) == 0 {
			op.HasVersion, op.Version = true, expect()
		}
		return op
	default:
		by := int64(s.rng.IntN(5) + 1)
		if s.rng.IntN(10) == 0 {
			by = -by
		}
		return paxos.Op{Kind: paxos.OpIncrement, ID: id, By: by}
	}
}

func (s *simulation) tick() int64 {
	s.hist++
	return s.hist
}

// attempt runs one round of a request.
func (s *simulation) attempt(req *request) {
	p := req.proposer
	req.attempts++
	if !p.Up {
		s.logf("%s down: attempt %d of %s not sent", p.Name, req.attempts, req.key)
		s.ended(req, paxos.NotSent)
		return
	}
	r := s.c.StartRound(p, req.key, []paxos.Op{req.op}, s.clock(p), s.cfg.ReadAtPrepare && req.client < s.cfg.Clients)
	req.round = r
	s.live[r.ID] = req
	s.stats.Rounds++
	if r.P.Fast() {
		s.stats.FastRounds++
	}
	s.send(r)
}

// maybeFinish ends a decided round.
func (s *simulation) maybeFinish(req *request) {
	r := req.round
	if !r.Done() {
		return
	}
	delete(s.live, r.ID)
	switch r.P.Phase() {
	case paxos.Chosen:
		s.stats.ChosenRounds++
		if r.P.AtPrepare() {
			s.stats.ReadsAtPrepare++
		}
		s.logf("round %d chosen at %v", r.ID, r.P.Ballot())
		s.complete(req, r.P.Results()[0], r.P.Ballot())
		return
	case paxos.NotSent:
		s.stats.NotSentRounds++
	case paxos.Unknown:
		s.stats.UnknownRounds++
	}
	s.logf("round %d ended %d", r.ID, r.P.Phase())
	s.ended(req, r.P.Phase())
}

// ended handles a round that was not chosen: retry, or answer the client.
func (s *simulation) ended(req *request, ph paxos.Phase) {
	if ph == paxos.Unknown {
		req.unknown = true
	}
	if req.unlimited || req.attempts < s.cfg.MaxAttempts {
		backoff := int64(1+s.rng.IntN(8)) << min(req.attempts, 4)
		s.schedule(&event{kind: evRetry, r: req}, backoff)
		return
	}
	st := s.ops[string(req.op.ID)]
	if req.unknown {
		s.stats.UnknownOps++
		s.history = append(s.history, porcupine.Operation{ClientId: req.client, Input: InputOf(req.key, req.op), Call: req.call, Output: Output{Unknown: true}, Return: math.MaxInt64})
		if st != nil {
			st.unknown = true
		}
	} else {
		s.stats.FailedOps++ // definite: never applied (checked by the exactly-once count)
	}
	s.logf("client %d op on %s ends unknown=%v", req.client, req.key, req.unknown)
	req.done(req, paxos.Result{})
}

func (s *simulation) complete(req *request, res paxos.Result, b paxos.Ballot) {
	s.stats.Acked++
	s.history = append(s.history, porcupine.Operation{ClientId: req.client, Input: InputOf(req.key, req.op), Call: req.call, Output: OutputOf(res), Return: s.tick()})
	if st := s.ops[string(req.op.ID)]; st != nil {
		st.acked, st.applied = true, res.Outcome == paxos.Applied
	}
	s.logf("client %d op on %s acked %d v%d", req.client, req.key, res.Outcome, res.Version)
	if req.unlimited && req.client == s.cfg.Clients {
		s.final[req.key] = b
	}
	req.done(req, res)
}

// fault starts one fault at random (each ends by itself later).
func (s *simulation) fault() {
	if s.settled {
		return
	}
	switch s.rng.IntN(4) {
	case 0:
		if !s.cfg.CrashAcceptors {
			return
		}
		a := s.c.acceptors[s.rng.IntN(len(s.c.acceptors))]
		if !a.Up {
			return
		}
		a.Up = false
		a.incarnation++
		s.stats.AcceptorCrashes++
		s.logf("crash %s", a.Name)
		s.schedule(&event{kind: evRestartAcceptor, name: a.Name}, 20+int64(s.rng.IntN(80)))
	case 1:
		if !s.cfg.CrashProposers {
			return
		}
		p := s.c.proposers[s.rng.IntN(s.cfg.Proposers)]
		if !p.Up {
			return
		}
		s.crashProposer(p)
	case 2:
		if !s.cfg.Partitions {
			return
		}
		p := s.c.proposers[s.rng.IntN(len(s.c.proposers))]
		a := s.c.acceptors[s.rng.IntN(len(s.c.acceptors))]
		link := [2]string{p.Name, a.Name}
		if s.cut[link] {
			return
		}
		s.cut[link] = true
		s.stats.Cuts++
		s.logf("cut %s-%s", p.Name, a.Name)
		s.schedule(&event{kind: evHeal, link: link}, 20+int64(s.rng.IntN(100)))
	}
}

// crashProposer stops p: its rounds die with it, and each client waiting
// on one gets an answer (unknown once an accept left, otherwise not
// applied: nothing of the round can be chosen).
func (s *simulation) crashProposer(p *Proposer) {
	p.Up = false
	s.stats.ProposerCrashes++
	s.logf("crash %s", p.Name)
	var dead []int
	for id, req := range s.live {
		if req.proposer == p {
			dead = append(dead, id)
		}
	}
	slices.Sort(dead)
	p.restart()
	// It comes back with its clock set back: its new generator may make
	// ballots it made before the crash. That stays safe because promises
	// are durable: a prepare at a ballot already sent cannot win, since a
	// quorum promised it or more.
	s.skew[p.Name] -= s.rng.Int64N(60)
	p.Up = false
	for _, id := range dead {
		req := s.live[id]
		delete(s.live, id)
		if req.round.AcceptSent {
			req.unknown = true
		}
		req.attempts = max(req.attempts, s.cfg.MaxAttempts)
		s.ended(req, paxos.NotSent)
	}
	s.schedule(&event{kind: evRestartProposer, name: p.Name}, 20+int64(s.rng.IntN(80)))
}

// maybeSettle starts the final reads once every client is done and every
// move finished: faults stop, everything restarts and heals, and one read
// per key runs until chosen.
func (s *simulation) maybeSettle() {
	if s.settled {
		return
	}
	for _, cl := range s.clients {
		if cl.issued < s.cfg.OpsPerClient || cl.busy {
			return
		}
	}
	if s.mover != nil && s.mover.done < s.cfg.Moves {
		return
	}
	s.settled = true
	s.logf("settle")
	s.cut = map[[2]string]bool{}
	for _, a := range s.c.acceptors {
		a.Up = true
	}
	reader := s.c.proposers[0]
	reader.Up = true
	for _, key := range s.keys {
		req := &request{client: s.cfg.Clients, key: key, op: paxos.Op{Kind: paxos.OpGet}, proposer: reader, call: s.tick(), unlimited: true}
		req.done = func(*request, paxos.Result) { s.finals++ }
		s.attempt(req)
	}
}

// checkExactlyOnce counts each operation id along the lineage of its
// register's final state: an acknowledged applied change exactly once, an
// acknowledged change that did not apply never, an unknown one at most
// once, one that never sent an accept never. Two applications further
// apart than the window are the window's documented limit, counted apart.
func (s *simulation) checkExactlyOnce() {
	apps := map[string]map[string][]int{}
	for _, key := range s.keys {
		apps[key] = s.c.Checker.Applications(key, s.final[key])
	}
	for _, id := range s.opOrder {
		st := s.ops[id]
		depths := apps[st.key][id]
		n := len(depths)
		if n > 1 && depths[1]-depths[0] > s.cfg.Window {
			s.stats.DoubleApplied++
			continue
		}
		switch {
		case st.acked && st.applied && n != 1:
			s.c.Checker.fail("%s: acknowledged %s applied %d times (depths %v)", st.key, id, n, depths)
		case st.acked && !st.applied && n != 0:
			s.c.Checker.fail("%s: %s acknowledged as not applied, applied %d times", st.key, id, n)
		case !st.acked && st.unknown && n > 1:
			s.c.Checker.fail("%s: unknown %s applied %d times (depths %v)", st.key, id, n, depths)
		case !st.acked && !st.unknown && n != 0:
			s.c.Checker.fail("%s: %s never sent an accept, applied %d times", st.key, id, n)
		}
		if st.acked && st.applied && n == 1 && st.kind == paxos.OpIncrement {
			s.stats.ExactlyOnceIncrs++
		}
	}
}
