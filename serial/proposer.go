package serial

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/paxos"
)

// Result is a decided operation's answer and how it was decided.
type Result struct {
	paxos.Result
	Receipt Receipt
}

// Receipt says how an operation was decided.
type Receipt struct {
	// Proposer is the node that ran the rounds; Epoch the ring epoch the
	// deciding round ran at.
	Proposer string
	Epoch    uint64
	// Rounds the operation took part in (1 unless a round failed).
	Rounds int
	// FastPath: the deciding round skipped the prepare.
	FastPath bool
	// Batched: the operations the deciding round decided (this one too).
	Batched int
}

// Proposer runs CASPaxos rounds for the registers this node proposes for:
// one FIFO of operations per register, one round in flight per register,
// every queued operation (up to MaxBatch) decided by the next round.
type Proposer struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	gen    *paxos.BallotGen
	cache  *paxos.Cache
	queues map[string]*keyQueue
	closed bool

	lat   latencies
	stats counters

	// ctx ends when the proposer closes: rounds in flight end with it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// keyQueue is one register's operations waiting for a round. It exists
// while the register's runner goroutine runs.
type keyQueue struct {
	kind byte
	key  []byte
	ops  []*pending
}

// Operation states: the runner claims a queued operation for an accept
// (sent); a caller whose context ended gives up one never sent
// (abandoned). Either wins once, so a caller never reports "not applied"
// for an operation an accept carried.
const (
	opQueued int32 = iota
	opSent
	opAbandoned
)

// pending is one submitted operation.
type pending struct {
	op     paxos.Op
	ctx    context.Context
	state  atomic.Int32
	done   chan outcome // buffered: the runner answers at most once
	fail   atomic.Pointer[failure]
	rounds int // runner only
	// undecided: an earlier round sent an accept of this operation and
	// did not decide (runner only). That accept may still be chosen, so a
	// later answer that the operation did not apply is no longer definite
	// unless the register remembered the operation's id.
	undecided bool
	// base: the lowest version an undecided round computed its accept from.
	base uint64
}

type outcome struct {
	res Result
	err error
}

// failure is why a round an operation took part in ended without an
// accept sent: the definite answer if its deadline passes next.
type failure struct {
	contended          bool
	required, acked    int
	diskFull, notReady []string
}

// err is the definite error of an operation whose deadline passed: no
// failure recorded (its round, or the rounds before it in the queue, did
// not end in time) counts as too few answers.
func (f *failure) err() error {
	if f == nil {
		return &UnavailableError{}
	}
	if f.contended {
		return ErrContended
	}
	return &UnavailableError{Required: f.required, Acknowledged: f.acked, DiskFull: f.diskFull, NotReady: f.notReady}
}

// New returns a proposer for cfg.
func New(cfg Config) (*Proposer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Proposer{
		cfg: cfg, log: cfg.Logger, gen: paxos.NewBallotGen(cfg.NodeID), cache: paxos.NewCache(cfg.CacheSize),
		queues: map[string]*keyQueue{}, ctx: ctx, cancel: cancel,
	}, nil
}

// Config returns the proposer's configuration, defaults filled in.
func (p *Proposer) Config() Config { return p.cfg }

// Stats returns the proposer's counters.
func (p *Proposer) Stats() Stats { return p.stats.snapshot() }

// Close ends the rounds in flight and waits for the runners; operations
// still waiting end with ErrClosed (ErrOutcomeUnknown when an accept of
// them was sent).
func (p *Proposer) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
}

// DropCache forgets every fast-path entry (the ring changed under them, or
// a partition's floor was raised).
func (p *Proposer) DropCache() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cache.DropIf(func(string, paxos.CacheEntry) bool { return true })
}

// Do runs op on the register key of kind and returns its result once a
// quorum accepted it. An op without an id gets a random one. The request
// ends by ctx's deadline (Config.RequestTimeout without one): the error is
// then ErrOutcomeUnknown if an accept carrying op was sent, and otherwise
// a definite *UnavailableError or ErrContended.
func (p *Proposer) Do(ctx context.Context, kind byte, key []byte, op paxos.Op) (Result, error) {
	if len(key) == 0 {
		return Result{}, errors.Join(ErrInvalid, errors.New("serial: empty key"))
	}
	if len(op.Value) > p.cfg.MaxValue {
		return Result{}, ErrValueTooLarge
	}
	if len(op.ID) == 0 {
		op.ID = NewOpID()
	}
	var cancel context.CancelFunc
	if _, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, p.cfg.RequestTimeout)
	}
	defer cancel()
	pd := &pending{op: op, ctx: ctx, done: make(chan outcome, 1)}
	if !p.enqueue(kind, key, pd) {
		return Result{}, ErrClosed
	}
	p.stats.ops.Add(1)
	var o outcome
	select {
	case o = <-pd.done:
	case <-ctx.Done():
		o = p.giveUp(pd)
	}
	p.count(o.err)
	return o.res, o.err
}

// giveUp answers an operation whose context ended before its result.
func (p *Proposer) giveUp(pd *pending) outcome {
	select {
	case o := <-pd.done:
		return o
	default:
	}
	if pd.state.CompareAndSwap(opQueued, opAbandoned) {
		if errors.Is(pd.ctx.Err(), context.Canceled) {
			return outcome{err: pd.ctx.Err()}
		}
		return outcome{err: pd.fail.Load().err()}
	}
	return outcome{err: ErrOutcomeUnknown}
}

// abandon answers operations the runner gives up on: never sent, the
// failure of their last round (definite); sent, unknown.
func (p *Proposer) abandon(ops []*pending) {
	for _, pd := range ops {
		if pd.state.CompareAndSwap(opQueued, opAbandoned) {
			pd.done <- outcome{err: pd.fail.Load().err()}
		} else {
			pd.done <- outcome{err: ErrOutcomeUnknown}
		}
	}
}

func (p *Proposer) count(err error) {
	var ue *UnavailableError
	switch {
	case errors.Is(err, ErrOutcomeUnknown):
		p.stats.unknown.Add(1)
	case errors.Is(err, ErrContended):
		p.stats.contended.Add(1)
	case errors.As(err, &ue):
		p.stats.unavailable.Add(1)
	}
}

// enqueue adds pd to its register's FIFO, starting the register's runner
// if none runs.
func (p *Proposer) enqueue(kind byte, key []byte, pd *pending) bool {
	qk := queueKey(kind, key)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	q := p.queues[qk]
	if q == nil {
		q = &keyQueue{kind: kind, key: key}
		p.queues[qk] = q
		p.wg.Add(1)
		p.cfg.Run(func() { p.run(qk, q) })
	}
	q.ops = append(q.ops, pd)
	return true
}

// queueKey names a register: its kind, then its key.
func queueKey(kind byte, key []byte) string {
	b := make([]byte, 0, 1+len(key))
	return string(append(append(b, kind), key...))
}

// run decides q's operations, round after round, until none is left.
func (p *Proposer) run(qk string, q *keyQueue) {
	defer p.wg.Done()
	var cur []*pending
	attempt, unanswered := 0, 0
	for {
		cur = p.next(qk, q, cur)
		if len(cur) == 0 {
			return
		}
		if p.ctx.Err() != nil {
			p.closeOps(cur)
			cur = nil
			continue
		}
		if attempt > 0 {
			p.stats.retries.Add(1)
		}
		r := p.round(qk, q.kind, q.key, cur)
		switch {
		case r.decided:
			cur, attempt, unanswered = nil, 0, 0
		case r.retryNow:
		default:
			attempt++
			if unanswered = unanswered + 1; r.contended {
				unanswered = 0
			}
			if unanswered >= p.cfg.GiveUpRounds {
				// The acceptors do not answer (down, cut off): answer now
				// rather than at the deadline.
				p.abandon(cur)
				cur, attempt, unanswered = nil, 0, 0
				continue
			}
			p.wait(attempt)
		}
	}
}

// next returns the operations of the next round: those of cur still
// wanted, then the queue's oldest, up to MaxBatch and at most Window
// changes. With none, the runner
// ends (and q is forgotten).
func (p *Proposer) next(qk string, q *keyQueue, cur []*pending) []*pending {
	kept := cur[:0]
	for _, pd := range cur {
		if pd.ctx.Err() == nil {
			kept = append(kept, pd)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		// Close: everything still queued ends now.
		kept = append(kept, q.ops...)
		q.ops = nil
	}
	changes := 0
	for _, pd := range kept {
		if pd.op.Kind != paxos.OpGet {
			changes++
		}
	}
	i := 0
	for ; i < len(q.ops) && len(kept) < p.cfg.MaxBatch; i++ {
		pd := q.ops[i]
		if pd.ctx.Err() != nil {
			continue
		}
		if pd.op.Kind != paxos.OpGet {
			if changes == p.cfg.Window {
				break // its id would push an earlier change of the round out of the window
			}
			changes++
		}
		kept = append(kept, pd)
	}
	q.ops = q.ops[i:]
	if len(kept) == 0 && len(q.ops) == 0 {
		delete(p.queues, qk)
	}
	return kept
}

// closeOps answers ops when the proposer closes.
func (p *Proposer) closeOps(ops []*pending) {
	for _, pd := range ops {
		if pd.state.CompareAndSwap(opQueued, opAbandoned) {
			pd.done <- outcome{err: ErrClosed}
		} else {
			pd.done <- outcome{err: ErrOutcomeUnknown}
		}
	}
}

// wait sleeps the backoff before retry number attempt.
func (p *Proposer) wait(attempt int) {
	p50, p95 := p.lat.quantiles()
	d := backoff(p50, p95, attempt, p.cfg.BackoffMin, p.cfg.BackoffMax, p.cfg.Rand())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-p.ctx.Done():
	}
}
