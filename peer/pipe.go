package peer

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/backoff"
	"github.com/quorumkv/quorumkv/replica"
)

// Replication, replica reads and Paxos prepares and accepts to one peer
// travel on one long-lived connection (wire.go). While the sender is busy,
// new operations queue up and leave together as one batch of one kind:
// one message, and for applies and Paxos items one durable write on the
// peer. Nothing waits for a batch to fill: an idle peer gets an operation
// at once. Answers come back by batch id, so a slow batch of applies (an
// fsync) never holds up a batch of reads or of accepts behind it.
const (
	pipeBatchMax = 256
	// pipeBatchBytes ends a batch once its objects reach this size.
	pipeBatchBytes = api.BatchBytes
	pipeQueue      = 1024
	// pipeApplying is how many batches of applies may await the peer's
	// answer before new applies are held for the next batch (Config.Hold
	// is the longest they are held; a stuck peer's stream is then found
	// stale and replaced).
	pipeApplying = 1
	// pipePaxosInFlight is pipeApplying for batches of prepares and of
	// accepts (each kind on its own).
	pipePaxosInFlight = 2
)

var errTransportClosed = errors.New("transport closed")

// opKind is what a pipe operation is; a batch holds operations of one
// kind.
type opKind uint8

const (
	opApply opKind = iota
	opRead
	opPrepare
	opAccept
	nKinds
)

// paxos reports a Paxos message (whose answer is a PaxosReply).
func (k opKind) paxos() bool { return k == opPrepare || k == opAccept }

// pipeOp is one apply, read, prepare or accept waiting for its answer.
type pipeOp struct {
	ctx   context.Context
	kind  opKind
	key   []byte // apply, read
	clock []byte // apply
	paxos *api.PaxosItem
	// done receives the answer exactly once (the first of the peer's
	// answer, a failure, or the end of ctx); it must not block.
	done func(pipeResult)

	mu       sync.Mutex
	answered bool
	stopWait func() bool // ends the watch on ctx
}

func (op *pipeOp) answer(r pipeResult) {
	op.mu.Lock()
	if op.answered {
		op.mu.Unlock()
		return
	}
	op.answered = true
	stop := op.stopWait
	op.mu.Unlock()
	if stop != nil {
		stop()
	}
	op.done(r)
}

// watchCtx answers op with its context's error if that ends first.
func (op *pipeOp) watchCtx() {
	stop := context.AfterFunc(op.ctx, func() { op.answer(pipeResult{err: op.ctx.Err()}) })
	op.mu.Lock()
	defer op.mu.Unlock()
	if op.answered {
		stop()
		return
	}
	op.stopWait = stop
}

// size is what op adds to a batch's bytes.
func (op *pipeOp) size() int { return len(op.clock) + len(op.paxos.GetState()) }

type pipeResult struct {
	clock []byte
	found bool
	paxos *api.PaxosReply
	err   error
}

// pipes holds one pipe per peer.
type pipes struct {
	t    *Transport
	hold time.Duration // Config.Hold
	stop chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	peers map[string]*pipe
}

func newPipes(t *Transport) *pipes {
	return &pipes{t: t, hold: t.cfg.Hold, stop: make(chan struct{}), peers: map[string]*pipe{}}
}

// do queues op for node and waits for its answer or op.ctx's end.
func (ps *pipes) do(node string, op *pipeOp) pipeResult {
	ch := make(chan pipeResult, 1)
	ps.start(node, op, func(r pipeResult) { ch <- r })
	return <-ch
}

// start queues op for node; done gets its answer, or op.ctx's error when
// that ends first, or the transport's when it closes.
func (ps *pipes) start(node string, op *pipeOp, done func(pipeResult)) {
	op.done = done
	p, err := ps.peer(node)
	if err != nil {
		op.answer(pipeResult{err: err})
		return
	}
	op.watchCtx()
	select {
	case p.ops <- op:
		return
	default:
	}
	if p.health.quiet() {
		// Its queue is full and the peer does not answer: nothing more
		// waits behind it. The operation never left, so it did not run.
		op.answer(pipeResult{err: fmt.Errorf("%w: node %s: %w", coordinator.ErrUnreachable, p.node, ErrQuiet)})
		return
	}
	select {
	case p.ops <- op:
	case <-op.ctx.Done():
		op.answer(pipeResult{err: op.ctx.Err()})
	case <-ps.stop:
		op.answer(pipeResult{err: errTransportClosed})
	}
}

func (ps *pipes) peer(node string) (*pipe, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	select {
	case <-ps.stop:
		return nil, errTransportClosed
	default:
	}
	p, ok := ps.peers[node]
	if !ok {
		p = &pipe{ps: ps, node: node, ops: make(chan *pipeOp, pipeQueue), answered: make(chan struct{}, 1),
			health: newHealth(ps.t.now, ps.t.cfg.QuietAfter)}
		ps.peers[node] = p
		ps.wg.Go(p.run)
	}
	return p, nil
}

// health returns node's pipe's responsiveness (nil: no pipe to it yet).
func (ps *pipes) health(node string) *health {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p, ok := ps.peers[node]; ok {
		return p.health
	}
	return nil
}

// revive ends the dial back-off of the pipes to the nodes alive reports
// up (gossip saw them come back).
func (ps *pipes) revive(alive func(string) bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for node, p := range ps.peers {
		if alive(node) {
			p.revived.Store(true)
		}
	}
}

func (ps *pipes) close() {
	ps.mu.Lock()
	select {
	case <-ps.stop:
	default:
		close(ps.stop)
	}
	ps.mu.Unlock()
	ps.wg.Wait()
}

// pipe is the sending side of one peer's stream.
type pipe struct {
	ps   *pipes
	node string
	ops  chan *pipeOp
	// answered wakes run when a batch of applies is answered (or the
	// stream broke), so held applies can go.
	answered chan struct{}
	nextID   uint64
	// held are the applies, prepares and accepts waiting for an earlier
	// batch of their kind to be answered (by opKind; reads never wait).
	held [nKinds]held
	cur  *pipeStream
	// health is what the peer's answers on every stream tell of it.
	health *health

	redialAt  time.Time // no dial before this, after a failed one
	redialGap time.Duration
	dialErr   error
	// revived is set when gossip sees the peer alive again: the next
	// operation dials at once instead of waiting out the back-off.
	revived atomic.Bool
}

// run sends what is queued until the transport closes: reads at once, in
// one batch; applies at once while fewer than pipeApplying batches of them
// are unanswered, and otherwise held until one is answered, the held batch
// is full, or Config.Hold passes (see held).
//
// Prepares and accepts go the same way as applies, each kind on its own,
// with pipePaxosInFlight batches of it unanswered at most.
func (p *pipe) run() {
	defer func() {
		if p.cur != nil {
			p.cur.fail(errTransportClosed, true)
		}
	}()
	for k := range p.held {
		p.held[k].hold = p.ps.hold
		defer p.held[k].stop()
	}
	apply, prepare, accept := &p.held[opApply], &p.held[opPrepare], &p.held[opAccept]
	for {
		var batch []*pipeOp
		select {
		case <-p.ps.stop:
			return
		case op := <-p.ops:
			batch = append(batch, op)
		case <-p.answered:
		case <-apply.expired():
			apply.force = true
		case <-prepare.expired():
			prepare.force = true
		case <-accept.expired():
			accept.force = true
		}
		batch = p.drain(batch)
		var reads []*pipeOp
		for _, op := range batch {
			switch {
			case op.ctx.Err() != nil:
				op.answer(pipeResult{err: op.ctx.Err()})
			case op.kind == opRead:
				reads = append(reads, op)
			default:
				p.held[op.kind].add(op)
			}
		}
		p.send(reads, true)
		for _, k := range [...]opKind{opAccept, opPrepare, opApply} {
			h := &p.held[k]
			if h.force || h.full() || !p.busy(k) {
				p.send(h.take(), true)
			} else {
				h.arm()
			}
		}
	}
}

// drain adds to batch what is queued, up to a batch's bounds.
func (p *pipe) drain(batch []*pipeOp) []*pipeOp {
	size := 0
	for _, op := range batch {
		size += op.size()
	}
	for len(batch) < pipeBatchMax && size < pipeBatchBytes {
		select {
		case op := <-p.ops:
			batch = append(batch, op)
			size += op.size()
		default:
			return batch
		}
	}
	return batch
}

// busy reports as many batches of kind k unanswered on the current stream
// as may be: new operations of that kind are held.
func (p *pipe) busy(k opKind) bool {
	limit := pipeApplying
	if k.paxos() {
		limit = pipePaxosInFlight
	}
	return p.cur != nil && p.cur.inFlight(k) >= limit
}

// held are applies waiting for the peer to answer an earlier batch: while
// it fsyncs, new applies gather into the next batch (one message, one
// ApplyMany, one fsync there) instead of each going alone. This is group
// commit across the network, as a Raft leader batches proposals while an
// append is in flight; it trades a little latency, at most one batch's
// round trip or Config.Hold, for far fewer messages under load.
type held struct {
	hold  time.Duration
	ops   []*pipeOp
	size  int
	timer *time.Timer
	armed bool
	force bool
}

func (h *held) add(op *pipeOp) {
	h.ops = append(h.ops, op)
	h.size += op.size()
}

func (h *held) full() bool { return len(h.ops) >= pipeBatchMax || h.size >= pipeBatchBytes }

// take returns the held applies whose callers still wait, and disarms.
func (h *held) take() []*pipeOp {
	ops := h.ops[:0:0]
	for _, op := range h.ops {
		if err := op.ctx.Err(); err != nil {
			op.answer(pipeResult{err: err})
			continue
		}
		ops = append(ops, op)
	}
	h.ops, h.size, h.force = nil, 0, false
	h.disarm()
	return ops
}

// arm starts the hold clock for the first held apply.
func (h *held) arm() {
	if h.armed || len(h.ops) == 0 {
		return
	}
	if h.timer == nil {
		h.timer = time.NewTimer(h.hold)
	} else {
		h.timer.Reset(h.hold)
	}
	h.armed = true
}

func (h *held) disarm() {
	if h.armed {
		h.timer.Stop()
		h.armed = false
	}
}

// expired fires when the held applies waited their time (nil: never).
func (h *held) expired() <-chan time.Time {
	if !h.armed {
		return nil
	}
	return h.timer.C
}

func (h *held) stop() {
	h.disarm()
	for _, op := range h.ops {
		op.answer(pipeResult{err: errTransportClosed})
	}
}

// send ships one batch on the current stream, opening one if needed; retry
// allows one more stream when the current one broke before the batch left.
func (p *pipe) send(ops []*pipeOp, retry bool) {
	if len(ops) == 0 {
		return
	}
	s, err := p.stream()
	if err != nil {
		for _, op := range ops {
			op.answer(pipeResult{err: err})
		}
		return
	}
	p.nextID++
	req := &api.PipeRequest{Id: p.nextID, From: p.ps.t.self, DeadlineUnixNano: latestDeadline(ops)}
	req.Epoch, req.Target = p.ps.t.view()
	for _, op := range ops {
		switch op.kind {
		case opRead:
			req.Reads = append(req.Reads, &api.ReadRequest{Key: op.key})
		case opApply:
			req.Applies = append(req.Applies, &api.ApplyRequest{Key: op.key, Clock: op.clock})
		case opPrepare:
			req.Prepares = append(req.Prepares, op.paxos)
		case opAccept:
			req.Accepts = append(req.Accepts, op.paxos)
		}
	}
	if !s.register(req.Id, ops) {
		if retry {
			p.send(ops, false) // the stream broke meanwhile: a new one takes them
			return
		}
		for _, op := range ops {
			op.answer(pipeResult{err: fmt.Errorf("%w: node %s: stream closed", coordinator.ErrUnreachable, p.node)})
		}
		return
	}
	if err := s.cs.Send(req); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) { // nothing was sent: the stream is fine
			for _, op := range s.unregister(req.Id) {
				op.answer(pipeResult{err: fmt.Errorf("node %s: %w", p.node, err)})
			}
			return
		}
		// A write that timed out found the peer not reading: it has not
		// answered, so it stays quiet; any other failure broke the
		// connection.
		s.fail(p.unreachable(err), !errors.Is(err, os.ErrDeadlineExceeded))
	}
}

// latestDeadline is the latest deadline of ops in Unix ns, the batch's
// PipeRequest.deadline_unix_nano: after it the sender waits on none of them,
// and the peer refuses applies that arrive much later (0: an operation
// has no deadline, so neither has the batch).
func latestDeadline(ops []*pipeOp) int64 {
	var latest int64
	for _, op := range ops {
		d, ok := op.ctx.Deadline()
		if !ok {
			return 0
		}
		latest = max(latest, d.UnixNano())
	}
	return latest
}

// stream returns a working stream to the peer, replacing a broken or stuck one.
func (p *pipe) stream() (*pipeStream, error) {
	if p.cur != nil && !p.cur.broken() {
		if !p.cur.stale(time.Now(), p.ps.t.cfg.Stale) {
			return p.cur, nil
		}
		p.cur.fail(fmt.Errorf("%w: node %s stopped answering", coordinator.ErrUnreachable, p.node), false)
	}
	now := time.Now()
	switch {
	case p.cur == nil:
	case p.cur.answeredAny():
		p.redialGap = 0 // it worked: the next failure starts the back-off afresh
	default:
		// The peer took the connection but closed it before answering
		// anything (draining, or not speaking the pipe): back off as from
		// a refused dial.
		p.backOff(now, fmt.Errorf("%w: node %s closed the pipe without answering", coordinator.ErrUnreachable, p.node))
	}
	p.cur = nil
	if p.revived.Swap(false) {
		p.redialAt, p.redialGap = time.Time{}, 0
	}
	if now.Before(p.redialAt) {
		return nil, p.dialErr
	}
	addr, ok := p.ps.t.resolve(p.node)
	if !ok {
		return nil, fmt.Errorf("%w: no address known for node %q", coordinator.ErrUnreachable, p.node)
	}
	conn, err := dialPipe(addr, p.ps.t.securer())
	if err != nil {
		p.backOff(now, fmt.Errorf("%w: node %s: %v", coordinator.ErrUnreachable, p.node, err))
		return nil, p.dialErr
	}
	s := &pipeStream{cs: conn, pending: map[uint64]pendingBatch{}, answered: p.answered, health: p.health}
	p.ps.wg.Go(func() { s.receive(p) })
	p.cur = s
	return s, nil
}

// backOff makes the pipe fail operations with err, without dialling,
// for a growing while.
func (p *pipe) backOff(now time.Time, err error) {
	p.redialGap = backoff.Redial().Next(p.redialGap) // not dialled again for a while
	p.redialAt = now.Add(p.redialGap)
	p.dialErr = err
}

func (p *pipe) unreachable(err error) error {
	err = fromStatus(p.node, err)
	if errors.Is(err, coordinator.ErrUnreachable) {
		return err
	}
	return fmt.Errorf("%w: node %s: %v", coordinator.ErrUnreachable, p.node, err)
}

type pendingBatch struct {
	ops  []*pipeOp
	sent time.Time
	kind opKind
}

// pipeStream is one open pipe connection and the batches awaiting an
// answer on it.
type pipeStream struct {
	cs interface {
		Send(*api.PipeRequest) error
		Recv() (*api.PipeResponse, error)
		Close() error
	}

	answered chan struct{} // the pipe's: signalled when applies are answered
	health   *health       // the pipe's

	mu         sync.Mutex
	pending    map[uint64]pendingBatch // nil once the stream broke
	unanswered [nKinds]int             // batches of each kind in pending
	answers    int                     // batches answered so far
}

// answeredAny reports whether the peer answered anything on this stream.
func (s *pipeStream) answeredAny() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers > 0
}

func (s *pipeStream) register(id uint64, ops []*pipeOp) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return false
	}
	k := ops[0].kind
	s.pending[id] = pendingBatch{ops: ops, sent: time.Now(), kind: k}
	s.unanswered[k]++
	s.health.sent(id)
	return true
}

// unregister takes back a batch that was never sent.
func (s *pipeStream) unregister(id uint64) []*pipeOp {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.pending[id]
	if !ok {
		return nil
	}
	delete(s.pending, id)
	s.unanswered[b.kind]--
	s.health.unsent(id)
	return b.ops
}

// inFlight is the number of batches of kind k awaiting an answer.
func (s *pipeStream) inFlight(k opKind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unanswered[k]
}

// signal wakes the pipe's sender (it never blocks).
func (s *pipeStream) signal() {
	select {
	case s.answered <- struct{}{}:
	default:
	}
}

func (s *pipeStream) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending == nil
}

// stale reports a batch left unanswered for longer than after (Config.Stale).
func (s *pipeStream) stale(now time.Time, after time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.pending {
		if now.Sub(b.sent) > after {
			return true
		}
	}
	return false
}

// fail ends the stream and answers every pending operation with err. broke
// says the connection broke (the peer's health forgets what was sent on
// it); otherwise the peer stopped answering and its unanswered batches
// keep it quiet. Only the first call does anything.
func (s *pipeStream) fail(err error, broke bool) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.unanswered = [nKinds]int{}
	s.mu.Unlock()
	if pending == nil {
		_ = s.cs.Close()
		return
	}
	if broke {
		s.health.reset()
	} else {
		s.health.dropped(slices.Collect(maps.Keys(pending)))
	}
	_ = s.cs.Close()
	s.signal()
	for _, b := range pending {
		berr := err
		if b.kind.paxos() {
			berr = noAnswer(err)
		}
		for _, op := range b.ops {
			op.answer(pipeResult{err: berr})
		}
	}
}

// receive delivers answers until the stream ends.
func (s *pipeStream) receive(p *pipe) {
	for {
		resp, err := s.cs.Recv()
		if err != nil {
			s.fail(p.unreachable(err), true)
			return
		}
		s.health.answered(resp.GetId())
		s.mu.Lock()
		b, ok := s.pending[resp.GetId()]
		delete(s.pending, resp.GetId())
		if ok {
			s.unanswered[b.kind]--
		}
		s.answers++
		s.mu.Unlock()
		if ok && b.kind != opRead {
			s.signal()
		}
		switch {
		case !ok:
		case b.kind.paxos():
			p.ps.t.Learn(p.node, resp.GetEpoch())
			deliverPaxos(p.node, b.ops, resp)
		default:
			p.ps.t.Learn(p.node, resp.GetEpoch())
			deliver(p.node, b.ops, resp)
		}
	}
}

// ItemStatus classifies a refusal for a pipe answer.
func ItemStatus(err error) api.ItemStatus {
	switch {
	case err == nil:
		return api.ItemStatus_ITEM_OK
	case isNotReplica(err):
		return api.ItemStatus_ITEM_NOT_REPLICA
	case isNotReady(err):
		return api.ItemStatus_ITEM_NOT_READY
	case errors.Is(err, replica.ErrClosed):
		return api.ItemStatus_ITEM_CLOSED
	case errors.Is(err, replica.ErrBadWrite):
		return api.ItemStatus_ITEM_BAD_WRITE
	case isDiskFull(err):
		return api.ItemStatus_ITEM_DISK_FULL
	}
	return api.ItemStatus_ITEM_FAILED
}

// itemSentinel is the error a peer's item status stands for (nil for
// none), so a caller's errors.Is sees the peer's sentinel.
func itemSentinel(st api.ItemStatus) error {
	switch st {
	case api.ItemStatus_ITEM_NOT_READY:
		return replica.ErrNotReady
	case api.ItemStatus_ITEM_CLOSED:
		return replica.ErrClosed
	case api.ItemStatus_ITEM_BAD_WRITE:
		return replica.ErrBadWrite
	}
	return nil
}

func deliver(node string, ops []*pipeOp, resp *api.PipeResponse) {
	errs, reads, st := resp.GetErrors(), resp.GetReads(), resp.GetStatus()
	for i, op := range ops {
		var r pipeResult
		switch {
		case i < len(st) && st[i] == api.ItemStatus_ITEM_NOT_REPLICA:
			r.err = &peerNotReplica{replica.NotReplicaError{Node: node, Epoch: resp.GetEpoch()}}
		case i < len(st) && st[i] == api.ItemStatus_ITEM_DISK_FULL:
			r.err = &peerDiskFull{node: node}
		case i < len(st) && itemSentinel(st[i]) != nil:
			r.err = fmt.Errorf("node %s: %w", node, itemSentinel(st[i]))
		case i < len(errs) && errs[i] != "":
			r.err = fmt.Errorf("node %s: %s", node, errs[i])
		case op.kind == opRead && i >= len(reads):
			r.err = fmt.Errorf("node %s answered %d of %d reads", node, len(reads), len(ops))
		case op.kind == opRead:
			r.clock, r.found = reads[i].GetClock(), reads[i].GetFound()
		}
		op.answer(r)
	}
}

// deliverPaxos answers a batch of prepares or accepts with the peer's
// replies. A peer answering none knows only applies and reads (it took
// the batch for an empty one of applies, so nothing ran there):
// errNoPaxosPipe. Any other count of replies is a peer's fault: the items
// may have run there.
func deliverPaxos(node string, ops []*pipeOp, resp *api.PipeResponse) {
	replies := resp.GetPaxos()
	var err error
	switch {
	case len(replies) == 0:
		err = fmt.Errorf("%w: node %s", errNoPaxosPipe, node)
	case len(replies) != len(ops):
		err = fmt.Errorf("node %s answered %d of %d Paxos items: %w", node, len(replies), len(ops), ErrNoAnswer)
	}
	for i, op := range ops {
		if err != nil {
			op.answer(pipeResult{err: err})
			continue
		}
		op.answer(pipeResult{paxos: replies[i]})
	}
}
