package client

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// Gets, puts and deletes to one node share one KV.Stream: concurrent calls
// queue up and leave together as one message while the previous one is
// being sent, and results come back batched by id. This saves the
// per-call cost of unary gRPC (headers, a stream per call) that dominates
// small operations.
const muxBatchMax = 256

// batchLen is how many queued operations the next batch takes: at most
// muxBatchMax, and no more than keep their keys, values and contexts
// within api.BatchBytes (a batch always takes one). With operations past
// api.BatchBytes sent alone (single.go), every message stays within what
// a node takes from a client whatever its value limit (api.BatchBytes and
// one operation of the largest value), even when operations past that
// limit share a batch.
func batchLen(queue []*muxOp) int {
	size := 0
	for i, o := range queue {
		n := opBytes(o.op)
		if i == muxBatchMax || (i > 0 && size+n > api.BatchBytes) {
			return i
		}
		size += n
	}
	return len(queue)
}

// opBytes is about the bytes op takes in a message: its key, value and
// context.
func opBytes(op *api.StreamOp) int {
	switch x := op.GetOp().(type) {
	case *api.StreamOp_Put:
		return len(x.Put.GetKey()) + len(x.Put.GetValue()) + len(x.Put.GetContext())
	case *api.StreamOp_Delete:
		return len(x.Delete.GetKey()) + len(x.Delete.GetContext())
	case *api.StreamOp_Get:
		return len(x.Get.GetKey())
	case *api.StreamOp_CompareAndSet:
		return len(x.CompareAndSet.GetKey()) + len(x.CompareAndSet.GetValue())
	}
	return 64 // a register or lock request's key or name and fields
}

type muxOp struct {
	ctx    context.Context
	op     *api.StreamOp
	done   chan muxResult // buffered: an answer never blocks the receiver
	sentAt time.Time      // when it was registered on a stream
}

type muxResult struct {
	res *api.StreamResult
	err error
}

// streamConn is one open stream of operations: the KV.Stream RPC's, or a
// framed connection's (wire.go).
type streamConn interface {
	Send(*api.StreamRequest) error
	Recv() (*api.StreamResponse, error)
}

// opener opens a node's stream; close ends it (and unblocks Recv).
type opener func() (conn streamConn, close func(), err error)

// grpcOpener opens streams as KV.Stream calls on cc.
func grpcOpener(cc *grpc.ClientConn) opener {
	return func() (streamConn, func(), error) {
		ctx, cancel := context.WithCancel(context.Background())
		cs, err := api.NewKVClient(cc).Stream(ctx)
		if err != nil {
			cancel()
			return nil, nil, err
		}
		return cs, cancel, nil
	}
}

// mux is one node's stream. It is opened on first use and reopened after
// it breaks.
type mux struct {
	open   opener
	inline bool          // callers may send (not for gRPC streams, whose Send can wait on flow control)
	stale  time.Duration // see streamStale
	obs    observer      // learns what becomes of the operations sent
	// single runs an operation too large to share a batch as a unary
	// call (single.go); nil sends every operation on the stream.
	single  singleCaller
	closing context.Context // ends when the mux closes (unary calls)
	stop    context.CancelFunc

	mu      sync.Mutex
	closed  bool
	cur     *muxStream
	queue   []*muxOp
	sending bool // a goroutine is sending (a caller in enqueue, or run)
	kick    chan struct{}
	wg      sync.WaitGroup
	nextID  uint64 // only the goroutine that set sending touches it
}

// observer learns what becomes of the operations a mux sends to its node
// (the endpoint's health, see tracker): the node holds an operation from
// when it is sent until it answers it or the stream breaks, whether or not
// its caller still waits.
type observer interface {
	sentOps(now time.Time, n int)
	answeredOps(now time.Time, ops []*muxOp)
	lostOps(now time.Time, ops []*muxOp) // sent, and the stream broke before an answer
}

type noObserver struct{}

func (noObserver) sentOps(time.Time, int)          {}
func (noObserver) answeredOps(time.Time, []*muxOp) {}
func (noObserver) lostOps(time.Time, []*muxOp)     {}

func newMux(open opener, inline bool, obs observer) *mux {
	if obs == nil {
		obs = noObserver{}
	}
	m := &mux{open: open, inline: inline, stale: streamStale, obs: obs, kick: make(chan struct{}, 1)}
	m.closing, m.stop = context.WithCancel(context.Background())
	m.wg.Go(m.run)
	return m
}

// do runs op and returns its result, or an error shaped like a unary
// call's: a status with code Unavailable when the node could not be
// reached (a sent.NotSentError when the operation never left).
func (m *mux) do(ctx context.Context, op *api.StreamOp) (*api.StreamResult, error) {
	o, err := m.start(ctx, op)
	if err != nil {
		return nil, err
	}
	select {
	case r := <-o.done:
		return r.unpack()
	case <-ctx.Done():
		m.checkStale()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// start queues op, or sends it alone when it is too large to share a
// batch (goesAlone); its result comes on the returned operation's done
// channel (the caller also watches ctx, as do does).
func (m *mux) start(ctx context.Context, op *api.StreamOp) (*muxOp, error) {
	if m.single != nil && goesAlone(op) {
		return m.startAlone(ctx, op)
	}
	if dl, ok := ctx.Deadline(); ok {
		op.TimeoutMs = uint32(max(1, time.Until(dl).Milliseconds()))
	}
	o := &muxOp{ctx: ctx, op: op, done: make(chan muxResult, 1)}
	if err := m.enqueue(o); err != nil {
		return nil, err
	}
	return o, nil
}

// unpack turns a result into do's return values: the node's own error
// for the operation becomes its gRPC status.
func (r muxResult) unpack() (*api.StreamResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	if e := r.res.GetError(); e != nil {
		return nil, status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()}).Err()
	}
	return r.res, nil
}

// streamStale is how long a stream with operations in progress may go
// without an answer before an operation that times out on it ends it (a
// node that vanished without closing the connection).
const streamStale = 10 * time.Second

// checkStale ends the current stream when it has operations in progress
// and has answered none of them for m.stale.
func (m *mux) checkStale() {
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur == nil {
		return
	}
	if silent, busy := cur.silentFor(time.Now()); busy && silent >= m.stale {
		cur.fail(status.Error(codes.Unavailable, "stream unanswered for "+m.stale.String()))
	}
}

// enqueue queues o to be sent. When no send is in progress and the stream
// is open, the caller sends one batch (its own operation and any queued
// meanwhile) itself, without a hand-off to another goroutine; anything left
// after it, and opening a stream (a dial), is for run, so a caller never
// sends on behalf of others or dials. (A send can still wait on a node that
// stopped reading, up to the connection's write timeout.)
func (m *mux) enqueue(o *muxOp) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return status.Error(codes.Canceled, "client is closed")
	}
	m.queue = append(m.queue, o)
	if m.sending {
		m.mu.Unlock()
		return nil
	}
	m.sending = true
	s := m.cur
	if !m.inline || s == nil || s.broken() {
		m.kickLocked()
		m.mu.Unlock()
		return nil
	}
	batch := m.takeLocked()
	m.mu.Unlock()
	m.sendOn(s, batch)
	m.mu.Lock()
	if len(m.queue) > 0 && !m.closed {
		m.kickLocked()
	} else {
		m.sending = false
	}
	m.mu.Unlock()
	return nil
}

// kickLocked wakes run; there is room, as only the goroutine that set
// sending kicks.
func (m *mux) kickLocked() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// takeLocked takes the next batch off the queue.
func (m *mux) takeLocked() []*muxOp {
	n := batchLen(m.queue)
	batch := m.queue[:n:n]
	m.queue = m.queue[n:]
	return batch
}

// run opens streams and sends, a batch at a time, until the queue is
// empty, each time enqueue kicks it; it ends when the mux closes.
func (m *mux) run() {
	for range m.kick {
		for {
			m.mu.Lock()
			if m.closed || len(m.queue) == 0 {
				m.sending = false
				m.mu.Unlock()
				break
			}
			batch := m.takeLocked()
			m.mu.Unlock()
			m.send(batch)
		}
	}
}

// send sends batch on the open stream, opening one if needed.
func (m *mux) send(batch []*muxOp) {
	s, err := m.stream()
	if err != nil {
		for _, o := range batch {
			o.done <- muxResult{err: err}
		}
		return
	}
	m.sendOn(s, batch)
}

// sendOn sends batch on s, skipping operations whose context ended.
func (m *mux) sendOn(s *muxStream, batch []*muxOp) {
	req := &api.StreamRequest{Ops: make([]*api.StreamOp, 0, len(batch))}
	live := batch[:0]
	for _, o := range batch {
		if o.ctx.Err() != nil {
			o.done <- muxResult{err: status.FromContextError(o.ctx.Err()).Err()}
			continue
		}
		m.nextID++
		o.op.Id = m.nextID
		req.Ops = append(req.Ops, o.op)
		live = append(live, o)
	}
	if len(live) == 0 {
		return
	}
	if !s.register(live) {
		for _, o := range live {
			o.done <- muxResult{err: status.Error(codes.Unavailable, "stream closed")}
		}
		return
	}
	if err := s.cs.Send(req); err != nil {
		if errors.Is(err, wire.ErrFrameTooLarge) { // nothing was sent: the stream is fine
			s.answer(live, status.Error(codes.ResourceExhausted, err.Error()))
			return
		}
		s.fail(streamError(err))
	}
}

// stream returns the open stream, opening a new one when there is none or
// it broke. An error opening it is the unary call's error for the same
// failure, typed as never sent (no operation left on it).
func (m *mux) stream() (*muxStream, error) {
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur != nil && !cur.broken() {
		return cur, nil
	}
	cs, cancel, err := m.open()
	if err != nil {
		return nil, sent.Wrap(err)
	}
	s := &muxStream{cs: cs, cancel: cancel, obs: m.obs, pending: map[uint64]*muxOp{}}
	s.lastRecv.Store(time.Now().UnixNano())
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		cancel()
		return nil, status.Error(codes.Canceled, "client is closed")
	}
	m.cur = s
	m.wg.Go(s.receive)
	return s, nil
}

func (m *mux) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	cur := m.cur
	queue := m.queue
	m.queue = nil
	close(m.kick)
	m.mu.Unlock()
	m.stop()
	if cur != nil {
		cur.fail(status.Error(codes.Canceled, "client is closed"))
	}
	for _, o := range queue {
		o.done <- muxResult{err: status.Error(codes.Canceled, "client is closed")}
	}
	m.wg.Wait()
}

// muxStream is one open stream and the operations awaiting results on it.
type muxStream struct {
	cs       streamConn
	cancel   func()
	obs      observer
	lastRecv atomic.Int64 // unix nanoseconds of the last answer (or the opening)

	mu        sync.Mutex
	pending   map[uint64]*muxOp // nil once the stream broke
	busySince time.Time         // when pending last went from empty to not
}

// silentFor is how long s has had operations in progress without an
// answer; busy is false when none is in progress.
func (s *muxStream) silentFor(now time.Time) (silent time.Duration, busy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return 0, false
	}
	since := time.Unix(0, s.lastRecv.Load())
	if s.busySince.After(since) {
		since = s.busySince
	}
	return now.Sub(since), true
}

func (s *muxStream) register(ops []*muxOp) bool {
	now := time.Now()
	s.mu.Lock()
	if s.pending == nil {
		s.mu.Unlock()
		return false
	}
	if len(s.pending) == 0 {
		s.busySince = now
	}
	for _, o := range ops {
		o.sentAt = now
		s.pending[o.op.GetId()] = o
	}
	s.mu.Unlock()
	s.observer().sentOps(now, len(ops))
	return true
}

func (s *muxStream) observer() observer {
	if s.obs == nil {
		return noObserver{}
	}
	return s.obs
}

// answer ends ops that were registered but not sent, with err (those the
// stream still holds: a stream that broke meanwhile answered the others).
func (s *muxStream) answer(ops []*muxOp, err error) {
	var held []*muxOp
	s.mu.Lock()
	for _, o := range ops {
		if s.pending[o.op.GetId()] == o {
			delete(s.pending, o.op.GetId())
			held = append(held, o)
		}
	}
	s.mu.Unlock()
	s.observer().lostOps(time.Now(), held)
	for _, o := range held {
		o.done <- muxResult{err: err}
	}
}

func (s *muxStream) broken() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending == nil
}

// fail ends the stream and answers every pending operation with err.
func (s *muxStream) fail(err error) {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.cancel()
	lost := make([]*muxOp, 0, len(pending))
	for _, o := range pending {
		lost = append(lost, o)
	}
	s.observer().lostOps(time.Now(), lost)
	for _, o := range lost {
		o.done <- muxResult{err: err}
	}
}

// streamError is the status of a stream's Send or Recv failure: io.EOF
// (the node ended the stream, or it broke) becomes UNAVAILABLE, not
// UNKNOWN, so callers see the node as unreachable.
func streamError(err error) error {
	st := status.Convert(err)
	if st.Code() == codes.OK || st.Code() == codes.Unknown {
		st = status.New(codes.Unavailable, "stream ended: "+st.Message())
	}
	return st.Err()
}

func (s *muxStream) receive() {
	for {
		resp, err := s.cs.Recv()
		if err != nil {
			s.fail(streamError(err))
			return
		}
		now := time.Now()
		s.lastRecv.Store(now.UnixNano())
		answered := make([]*muxOp, 0, len(resp.GetResults()))
		s.mu.Lock()
		for _, r := range resp.GetResults() {
			if o, ok := s.pending[r.GetId()]; ok {
				delete(s.pending, r.GetId())
				o.done <- muxResult{res: r}
				answered = append(answered, o)
			}
		}
		s.mu.Unlock()
		s.observer().answeredOps(now, answered)
	}
}
