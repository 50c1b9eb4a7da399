package serial

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/paxos"
)

// roundResult is how a round ended for the runner.
type roundResult struct {
	// decided: every operation of the round has its answer.
	decided bool
	// retryNow: the round stopped before sending its accept because an
	// operation was given up; the next round runs at once without it.
	retryNow bool
	// contended: an acceptor refused the round for a greater ballot.
	contended bool
}

// reply is one acceptor's answer to a message of the round.
type reply struct {
	from   string
	accept bool
	prep   paxos.PrepareReply
	acc    paxos.AcceptReply
	err    error
}

// roundRun is the state of one round as the runner drives it.
type roundRun struct {
	p       *Proposer
	ops     []*pending
	route   Route
	target  Target
	prop    *paxos.Proposal
	replies chan reply
	// acked counts the OK answers to the phase in flight; failures the
	// refusals that were not about ballots.
	acked              int
	diskFull, notReady []string
	// expired: the round ended on its deadline, not on its answers.
	expired bool
	// provisional is the failure its operations report should their
	// deadline pass before it ends.
	provisional *failure
}

// round runs one round for ops on the register (kind, key).
func (p *Proposer) round(qk string, kind byte, key []byte, ops []*pending) roundResult {
	for _, pd := range ops {
		pd.rounds++
	}
	route, err := p.cfg.View.Route(key)
	if err != nil {
		p.log.Debug("no route for a register", "err", err)
		setFailure(ops, &failure{})
		return roundResult{}
	}
	// Until the round ends, an operation whose deadline passes counts its
	// acceptors as not answering.
	old, nw := route.Quorum.Need()
	provisional := &failure{required: old + nw}
	for _, pd := range ops {
		pd.fail.CompareAndSwap(nil, provisional)
	}
	ctx, cancel := context.WithDeadline(p.ctx, p.roundDeadline(ops))
	defer cancel()
	pops := make([]paxos.Op, len(ops))
	for i, pd := range ops {
		pops[i] = pd.op
		if pd.undecided && !pd.op.Retry {
			pops[i].Retry, pops[i].RetryBase, pops[i].RetryBaseKnown = true, pd.base, true
		}
	}
	r := &roundRun{p: p, ops: ops, route: route, provisional: provisional,
		target:  Target{Partition: route.Partition, Kind: kind, Key: key, Epoch: route.Epoch, Moving: route.Moving},
		replies: make(chan reply, 2*len(route.Quorum.Acceptors())),
	}
	start := time.Now()
	p.mu.Lock()
	prop, msg := paxos.Start(paxos.Round{Key: qk, Quorum: route.Quorum, Config: route.Config, Floor: route.Floor, Ops: pops, Window: p.cfg.Window,
		ReadAtPrepare: !p.cfg.AcceptReads},
		p.gen, uint64(max(p.cfg.Clock.Now().UnixMicro(), 0)), p.cache)
	p.mu.Unlock()
	r.prop = prop
	p.stats.rounds.Add(1)
	if prop.Fast() {
		p.stats.fastRounds.Add(1)
	}
	if stop, res := r.send(ctx, msg); stop {
		return res
	}
	for !prop.Done() {
		select {
		case rep := <-r.replies:
			if stop, res := r.handle(ctx, rep); stop {
				return res
			}
		case <-ctx.Done():
			r.expired = true
			p.mu.Lock()
			prop.Expire()
			p.mu.Unlock()
		}
	}
	return r.finish(time.Since(start))
}

// roundDeadline is the latest deadline of ops, at most RoundTimeout away.
func (p *Proposer) roundDeadline(ops []*pending) time.Time {
	end := time.Now().Add(p.cfg.RoundTimeout)
	latest := time.Time{}
	for _, pd := range ops {
		if d, ok := pd.ctx.Deadline(); ok && d.After(latest) {
			latest = d
		}
	}
	if latest.IsZero() || latest.After(end) {
		return end
	}
	return latest
}

// send sends msg to every acceptor. Before an accept it claims every
// operation (stop: one was given up, or the state is too large, and
// nothing was sent).
func (r *roundRun) send(ctx context.Context, msg paxos.Message) (stop bool, res roundResult) {
	r.acked = 0
	if !msg.Accept {
		for _, n := range r.route.Quorum.Acceptors() {
			r.p.cfg.Acceptors.Prepare(ctx, n, r.target, msg.Ballot, func(rep paxos.PrepareReply, err error) {
				r.replies <- reply{from: n, prep: rep, err: err}
			})
		}
		return false, roundResult{}
	}
	if tooLarge(msg.State, r.p.cfg.MaxState) {
		r.p.refuseTooLarge(r.ops)
		return true, roundResult{decided: true}
	}
	if !claim(r.ops) {
		return true, roundResult{retryNow: true}
	}
	for _, n := range r.route.Quorum.Acceptors() {
		r.p.cfg.Acceptors.Accept(ctx, n, r.target, msg.Ballot, msg.State, msg.Promise, func(rep paxos.AcceptReply, err error) {
			r.replies <- reply{from: n, accept: true, acc: rep, err: err}
		})
	}
	return false, roundResult{}
}

// claim marks every operation as sent in an accept; false when one was
// given up by its caller (then the accept must not be sent; operations
// marked before it stay marked, which only makes their answer, should
// their deadline pass, unknown rather than definite).
func claim(ops []*pending) bool {
	for _, pd := range ops {
		if pd.state.Load() == opAbandoned {
			return false
		}
	}
	for _, pd := range ops {
		if !pd.state.CompareAndSwap(opQueued, opSent) && pd.state.Load() != opSent {
			return false
		}
	}
	return true
}

// handle feeds one reply to the proposal.
func (r *roundRun) handle(ctx context.Context, rep reply) (stop bool, res roundResult) {
	prop := r.prop
	if rep.accept != (prop.Phase() == paxos.Accepting) {
		return false, roundResult{} // an answer to the previous phase
	}
	if rep.err != nil {
		r.noteRefusal(rep.from, rep.err)
		r.p.mu.Lock()
		msg, next := prop.OnFail(rep.from)
		r.p.mu.Unlock()
		if next {
			return r.send(ctx, msg)
		}
		return false, roundResult{}
	}
	if rep.accept {
		if rep.acc.OK {
			r.acked++
		}
		r.p.mu.Lock()
		prop.OnAccept(rep.from, rep.acc)
		r.p.mu.Unlock()
		return false, roundResult{}
	}
	if rep.prep.OK {
		r.acked++
	}
	r.p.mu.Lock() // a read chosen at its prepare fills the shared cache
	msg, next := prop.OnPrepare(rep.from, rep.prep)
	r.p.mu.Unlock()
	if next {
		return r.send(ctx, msg)
	}
	return false, roundResult{}
}

// noteRefusal records a failed answer's cause: a stale epoch makes the
// node learn the newer ring.
func (r *roundRun) noteRefusal(from string, err error) {
	var stale *StaleEpochError
	switch {
	case errors.As(err, &stale):
		r.p.cfg.View.Learn(from, stale.Epoch)
	case errors.Is(err, ErrDiskFull):
		r.diskFull = append(r.diskFull, from)
	case errors.Is(err, ErrNotReady):
		r.notReady = append(r.notReady, from)
	}
}

// finish answers the operations of a decided round, or records why it
// failed.
func (r *roundRun) finish(took time.Duration) roundResult {
	p, prop := r.p, r.prop
	if prop.Breach() {
		p.stats.breaches.Add(1)
		p.log.Error("paxos invariant breach: one ballot with two states", "register", string(r.target.Key),
			"kind", string(rune(r.target.Kind)), "partition", r.route.Partition, "ballot", prop.Ballot().String())
	}
	seen := prop.Seen()
	if !seen.IsZero() {
		p.mu.Lock()
		p.gen.Observe(seen)
		p.mu.Unlock()
	}
	switch prop.Phase() {
	case paxos.Chosen:
		p.lat.add(took)
		p.stats.chosenRounds.Add(1)
		if prop.AtPrepare() {
			p.stats.readsAtPrepare.Add(1)
		}
		if len(r.ops) > 1 {
			p.stats.batchedOps.Add(uint64(len(r.ops)))
		}
		for i, res := range prop.Results() {
			pd := r.ops[i]
			if res.Outcome == paxos.Forgotten || pd.undecided && res.Outcome != paxos.Applied && !res.Deduplicated && !res.Remembered {
				// An earlier accept of it may have been chosen and its id
				// pushed out of the register's window since: "not applied"
				// would be a guess. When the register remembers every
				// change since that accept's base and not this one, it
				// never applied: the answer is definite.
				pd.done <- outcome{err: ErrOutcomeUnknown}
				continue
			}
			pd.done <- outcome{res: Result{Result: res, Receipt: Receipt{
				Proposer: p.cfg.NodeID, Epoch: r.route.Epoch, Rounds: pd.rounds, FastPath: prop.Fast(), Batched: len(r.ops),
			}}}
		}
		return roundResult{decided: true}
	case paxos.NotSent:
		if !seen.IsZero() {
			p.lat.add(took)
		}
		old, nw := r.route.Quorum.Need()
		f := &failure{contended: !seen.IsZero(), required: old + nw, acked: r.acked,
			diskFull: slices.Clone(r.diskFull), notReady: slices.Clone(r.notReady)}
		for _, pd := range r.ops {
			// A round cut short by the deadline says less than the one
			// before it: keep that one's account.
			if !r.expired || pd.fail.Load() == r.provisional {
				pd.fail.Store(f)
			}
		}
	}
	// Unknown: the operations are marked sent; the next round retries them
	// under their ids.
	contended := !seen.IsZero()
	if prop.Phase() == paxos.Unknown {
		for _, pd := range r.ops {
			if !pd.undecided || prop.Base() < pd.base {
				pd.base = prop.Base()
			}
			pd.undecided = true
		}
	}
	return roundResult{contended: contended}
}

func setFailure(ops []*pending, f *failure) {
	for _, pd := range ops {
		pd.fail.Store(f)
	}
}

// refuseTooLarge answers the operations of a round whose state would be
// too large to accept: ErrValueTooLarge for those never sent, and
// ErrOutcomeUnknown for those an earlier accept carried.
func (p *Proposer) refuseTooLarge(ops []*pending) {
	for _, pd := range ops {
		if pd.state.CompareAndSwap(opQueued, opAbandoned) {
			pd.done <- outcome{err: ErrValueTooLarge}
		} else {
			pd.done <- outcome{err: ErrOutcomeUnknown}
		}
	}
}

// tooLarge reports whether st encodes to more than limit bytes; it encodes
// only states whose value comes near the limit.
func tooLarge(st paxos.State, limit int) bool {
	est := len(st.Value) + len(st.Lock.Holder) + len(st.Lock.HolderOp)
	for _, f := range st.Fences {
		est += len(f.Lock)
	}
	for _, rc := range st.Recent {
		est += len(rc.ID)
	}
	if est < limit/2 {
		return false
	}
	return len(paxos.EncodeState(st)) > limit
}
