package peer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// Paxos messages to a peer travel on its pipe (pipe.go), batched per
// kind (prepare, accept) as applies are: one message, one group commit on
// the acceptor. Messages to this node, and to a peer that does not take
// them on its pipe, go as batched calls of the Paxos service instead: per
// node and kind, the items that arrive while calls are out leave together
// in the next call, at most paxosInFlight calls at a time.

const (
	paxosInFlight = 4
	paxosMaxBatch = 256
	// PaxosTimeout bounds one batch call (its items' own deadlines are
	// usually shorter).
	PaxosTimeout = 2 * time.Second
	// paxosUnaryFor is how long Paxos messages to a peer go as calls of
	// the Paxos service after it answered a batch on its pipe as one that
	// knows no Paxos messages there (it runs an older version).
	paxosUnaryFor = time.Minute
)

// LocalAcceptor is this node's own acceptor edge: a batch for this node is
// answered without the network.
type LocalAcceptor interface {
	Prepare(ctx context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error)
	Accept(ctx context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error)
}

// Acceptors implements serial.Acceptors over the Paxos service.
type Acceptors struct {
	t     *Transport
	local LocalAcceptor
	// run runs a batch's call on a goroutine of its own.
	run func(task func())

	pipeItems, unaryCalls atomic.Uint64

	mu     sync.Mutex
	queues map[queueKey]*paxosQueue
	// unaryUntil: peers to send calls of the Paxos service until then.
	unaryUntil map[string]time.Time
}

type queueKey struct {
	node   string
	accept bool
}

type paxosItem struct {
	ctx  context.Context
	item *api.PaxosItem
	done func(*api.PaxosReply, error)
}

type paxosQueue struct {
	items    []paxosItem
	inFlight int
}

// Acceptors returns the Paxos transport of t; local answers this node's
// own messages, and run runs each sender of batches (nil: a goroutine of
// its own).
func (t *Transport) Acceptors(local LocalAcceptor, run func(task func())) *Acceptors {
	if run == nil {
		run = func(task func()) { go task() }
	}
	return &Acceptors{t: t, local: local, run: run, queues: map[queueKey]*paxosQueue{}, unaryUntil: map[string]time.Time{}}
}

// PaxosSent counts how Paxos messages left for other nodes.
type PaxosSent struct {
	// PipeItems are prepares and accepts handed to a peer's pipe.
	PipeItems uint64
	// UnaryCalls are batch calls of the Paxos service to other nodes.
	UnaryCalls uint64
}

// Sent returns how a's Paxos messages left for other nodes so far.
func (a *Acceptors) Sent() PaxosSent {
	return PaxosSent{PipeItems: a.pipeItems.Load(), UnaryCalls: a.unaryCalls.Load()}
}

var _ serial.Acceptors = (*Acceptors)(nil)

// Prepare implements serial.Acceptors.
func (a *Acceptors) Prepare(ctx context.Context, node string, t serial.Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	a.send(ctx, node, false, itemOf(t, b), func(r *api.PaxosReply, err error) {
		if err != nil {
			done(paxos.PrepareReply{}, err)
			return
		}
		reply, err := PrepareReplyFromPB(node, r)
		done(reply, err)
	})
}

// Accept implements serial.Acceptors.
func (a *Acceptors) Accept(ctx context.Context, node string, t serial.Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error)) {
	it := itemOf(t, b)
	it.State = paxos.EncodeState(st)
	it.Promise = BallotToPB(promise)
	a.send(ctx, node, true, it, func(r *api.PaxosReply, err error) {
		if err != nil {
			done(paxos.AcceptReply{}, err)
			return
		}
		reply, err := AcceptReplyFromPB(node, r)
		done(reply, err)
	})
}

func itemOf(t serial.Target, b paxos.Ballot) *api.PaxosItem {
	return &api.PaxosItem{Partition: uint32(t.Partition), Kind: uint32(t.Kind), Key: t.Key, Epoch: t.Epoch, Moving: t.Moving, Ballot: BallotToPB(b)}
}

// send sends it to node: on node's pipe, or as part of a call of the
// Paxos service (this node, or a peer that takes no Paxos messages on its
// pipe).
func (a *Acceptors) send(ctx context.Context, node string, accept bool, it *api.PaxosItem, done func(*api.PaxosReply, error)) {
	if (node == a.t.self && a.local != nil) || !a.pipeable(node) {
		a.enqueue(ctx, node, accept, it, done)
		return
	}
	kind := opPrepare
	if accept {
		kind = opAccept
	}
	a.pipeItems.Add(1)
	a.t.pipes.start(node, &pipeOp{ctx: ctx, kind: kind, paxos: it}, func(r pipeResult) {
		switch {
		case errors.Is(r.err, errNoPaxosPipe):
			a.unaryFrom(node)
			a.enqueue(ctx, node, accept, it, done)
		case r.err != nil:
			done(nil, r.err)
		default:
			if r.paxos.GetEpoch() > 0 {
				a.t.Learn(node, r.paxos.GetEpoch())
			}
			done(r.paxos, nil)
		}
	})
}

// pipeable reports node takes Paxos messages on its pipe, as far as a
// knows.
func (a *Acceptors) pipeable(node string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	until, ok := a.unaryUntil[node]
	if ok && !time.Now().Before(until) {
		delete(a.unaryUntil, node)
		ok = false
	}
	return !ok
}

// unaryFrom makes Paxos messages to node go as calls of the Paxos service
// for paxosUnaryFor.
func (a *Acceptors) unaryFrom(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unaryUntil[node] = time.Now().Add(paxosUnaryFor)
}

// enqueue adds it to the batch calls of the Paxos service to node.
func (a *Acceptors) enqueue(ctx context.Context, node string, accept bool, it *api.PaxosItem, done func(*api.PaxosReply, error)) {
	k := queueKey{node: node, accept: accept}
	a.mu.Lock()
	q := a.queues[k]
	if q == nil {
		q = &paxosQueue{}
		a.queues[k] = q
	}
	q.items = append(q.items, paxosItem{ctx: ctx, item: it, done: done})
	if q.inFlight >= paxosInFlight {
		a.mu.Unlock()
		return
	}
	q.inFlight++
	batch := a.takeLocked(q)
	a.mu.Unlock()
	a.run(func() { a.sendAll(k, q, batch) })
}

// takeLocked removes up to paxosMaxBatch items from q.
func (a *Acceptors) takeLocked(q *paxosQueue) []paxosItem {
	n := min(len(q.items), paxosMaxBatch)
	batch := q.items[:n:n]
	q.items = q.items[n:]
	return batch
}

// sendAll sends batches to k.node until the queue is empty.
func (a *Acceptors) sendAll(k queueKey, q *paxosQueue, batch []paxosItem) {
	for len(batch) > 0 {
		a.call(k, batch)
		a.mu.Lock()
		batch = a.takeLocked(q)
		if len(batch) == 0 {
			q.inFlight--
		}
		a.mu.Unlock()
	}
}

func (a *Acceptors) call(k queueKey, batch []paxosItem) {
	live := batch[:0:0]
	deadline := time.Now().Add(PaxosTimeout)
	var latest time.Time
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			it.done(nil, err)
			continue
		}
		if d, ok := it.ctx.Deadline(); ok && d.After(latest) {
			latest = d
		}
		live = append(live, it)
	}
	if len(live) == 0 {
		return
	}
	if !latest.IsZero() && latest.Before(deadline) {
		deadline = latest
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	req := &api.PaxosBatch{From: a.t.self, Items: make([]*api.PaxosItem, len(live))}
	for i, it := range live {
		req.Items[i] = it.item
	}
	resp, err := a.do(ctx, k, req)
	if err == nil && len(resp.GetReplies()) != len(live) {
		err = fmt.Errorf("%w: %s answered %d of %d items", coordinator.ErrUnreachable, k.node, len(resp.GetReplies()), len(live))
	}
	for i, it := range live {
		if err != nil {
			it.done(nil, err)
			continue
		}
		r := resp.GetReplies()[i]
		if r.GetEpoch() > 0 {
			a.t.Learn(k.node, r.GetEpoch())
		}
		it.done(r, nil)
	}
}

func (a *Acceptors) do(ctx context.Context, k queueKey, req *api.PaxosBatch) (*api.PaxosReplies, error) {
	if k.node == a.t.self && a.local != nil {
		if k.accept {
			return a.local.Accept(ctx, req)
		}
		return a.local.Prepare(ctx, req)
	}
	a.unaryCalls.Add(1)
	cc, err := a.t.conn(k.node)
	if err != nil {
		return nil, err
	}
	c := api.NewPaxosClient(cc)
	if k.accept {
		return c.Accept(ctx, req)
	}
	return c.Prepare(ctx, req)
}

// ScanRegisters asks node for registers of partitions (Paxos.Scan).
func (t *Transport) ScanRegisters(ctx context.Context, node string, req *api.PaxosScanRequest) (*api.PaxosScanResponse, error) {
	cc, err := t.conn(node)
	if err != nil {
		return nil, err
	}
	resp, err := api.NewPaxosClient(cc).Scan(ctx, req)
	if err != nil {
		return nil, t.fromStatus(node, err)
	}
	return resp, nil
}

// RaiseFloor runs collection's last step on node (Paxos.RaiseFloor).
func (t *Transport) RaiseFloor(ctx context.Context, node string, req *api.PaxosFloorRequest) error {
	cc, err := t.conn(node)
	if err != nil {
		return err
	}
	if _, err := api.NewPaxosClient(cc).RaiseFloor(ctx, req); err != nil {
		return t.fromStatus(node, err)
	}
	return nil
}
