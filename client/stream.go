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
)

// Gets, puts and deletes to one node share one KV.Stream: concurrent calls
// queue up and leave together as one message while the previous one is
// being sent, and results come back batched by id. This saves the
// per-call cost of unary gRPC (headers, a stream per call) that dominates
// small operations.
const muxBatchMax = 256

// batchLen is how many queued operations the next batch takes: at most
// muxBatchMax, and no more once their values reach api.BatchBytes.
func batchLen(queue []*muxOp) int {
	size := 0
	for i, o := range queue {
		if i == muxBatchMax || (i > 0 && size >= api.BatchBytes) {
			return i
		}
		size += len(o.op.GetPut().GetValue())
	}
	return len(queue)
}

type muxOp struct {
	ctx  context.Context
	op   *api.StreamOp
	done chan muxResult // buffered: an answer never blocks the receiver
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
	open  opener
	stale time.Duration // see streamStale

	mu      sync.Mutex
	closed  bool
	cur     *muxStream
	queue   []*muxOp
	sending bool // a goroutine is in flush
	kick    chan struct{}
	wg      sync.WaitGroup
	nextID  uint64 // only the goroutine in flush touches it
}

func newMux(open opener) *mux {
	m := &mux{open: open, stale: streamStale, kick: make(chan struct{}, 1)}
	m.wg.Go(m.run)
	return m
}

// do runs op and returns its result, or an error shaped like a unary
// call's: a status with code Unavailable when the node could not be
// reached (its message says "while dialing" when nothing was sent).
func (m *mux) do(ctx context.Context, op *api.StreamOp) (*api.StreamResult, error) {
	if dl, ok := ctx.Deadline(); ok {
		op.TimeoutMs = uint32(max(1, time.Until(dl).Milliseconds()))
	}
	o := &muxOp{ctx: ctx, op: op, done: make(chan muxResult, 1)}
	if err := m.enqueue(o); err != nil {
		return nil, err
	}
	select {
	case r := <-o.done:
		if r.err != nil {
			return nil, r.err
		}
		if e := r.res.GetError(); e != nil {
			return nil, status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()}).Err()
		}
		return r.res, nil
	case <-ctx.Done():
		m.checkStale()
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

// streamStale is how long a stream with operations in progress may go
// without an answer before an operation that times out on it ends it (a
// node that vanished without closing the connection).
const streamStale = 10 * time.Second

// checkStale ends the current stream when it has been silent too long.
func (m *mux) checkStale() {
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur != nil && time.Since(time.Unix(0, cur.lastRecv.Load())) >= m.stale {
		cur.fail(status.Error(codes.Unavailable, "stream unanswered for "+m.stale.String()))
	}
}

// enqueue queues o to be sent. When no send is in progress the caller
// sends, on the open stream, whatever is queued (its own operation and any
// that queue meanwhile) without a hand-off to another goroutine; opening a
// stream is left to run, so a dial never holds a caller past its deadline.
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
	if m.cur == nil || m.cur.broken() {
		select {
		case m.kick <- struct{}{}: // room: one kick at most while sending
		default:
		}
		m.mu.Unlock()
		return nil
	}
	m.mu.Unlock()
	m.flush()
	return nil
}

// run opens streams and sends for enqueue until the mux closes.
func (m *mux) run() {
	for range m.kick {
		m.flush()
	}
}

// flush sends queued operations, a batch at a time, until none is left; it
// runs in one goroutine at a time (the one that set sending).
func (m *mux) flush() {
	for {
		m.mu.Lock()
		n := batchLen(m.queue)
		if m.closed || n == 0 {
			m.sending = false
			m.mu.Unlock()
			return
		}
		batch := m.queue[:n:n]
		m.queue = m.queue[n:]
		m.mu.Unlock()
		m.send(batch)
	}
}

func (m *mux) send(batch []*muxOp) {
	s, err := m.stream()
	if err != nil {
		for _, o := range batch {
			o.done <- muxResult{err: err}
		}
		return
	}
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
// failure.
func (m *mux) stream() (*muxStream, error) {
	m.mu.Lock()
	cur := m.cur
	m.mu.Unlock()
	if cur != nil && !cur.broken() {
		return cur, nil
	}
	cs, cancel, err := m.open()
	if err != nil {
		return nil, err
	}
	s := &muxStream{cs: cs, cancel: cancel, pending: map[uint64]*muxOp{}}
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
	lastRecv atomic.Int64 // unix nanoseconds of the last answer (or the opening)

	mu      sync.Mutex
	pending map[uint64]*muxOp // nil once the stream broke
}

func (s *muxStream) register(ops []*muxOp) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pending == nil {
		return false
	}
	for _, o := range ops {
		s.pending[o.op.GetId()] = o
	}
	return true
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
	for _, o := range pending {
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
		s.lastRecv.Store(time.Now().UnixNano())
		s.mu.Lock()
		for _, r := range resp.GetResults() {
			if o, ok := s.pending[r.GetId()]; ok {
				delete(s.pending, r.GetId())
				o.done <- muxResult{res: r}
			}
		}
		s.mu.Unlock()
	}
}
