package node

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/batch"
	"github.com/quorumkv/quorumkv/internal/deadline"
	"github.com/quorumkv/quorumkv/peer"
)

const (
	// streamDrainQuiet is how long a draining stream keeps answering
	// SHUTTING_DOWN to new operations (which the client retries elsewhere)
	// after its last operation finished, before it ends.
	streamDrainQuiet = 50 * time.Millisecond
	// opDeadlineSlice is how late an operation's timeout may end, and
	// opSharedTimeoutMax the longest timeout whose context is shared (see
	// deadline.Shared); a longer one gets a context of its own.
	opDeadlineSlice    = 5 * time.Millisecond
	opSharedTimeoutMax = time.Minute
)

// kvStream is a client's stream of operations: the KV.Stream RPC's or a
// wire connection's (wire.go).
type kvStream interface {
	Recv() (*api.StreamRequest, error)
	Send(*api.StreamResponse) error
}

// Stream serves a client's multiplexed operations over gRPC.
func (s *kvServer) Stream(stream api.KV_StreamServer) error {
	s.serveStream(stream.Context(), stream)
	return nil
}

// serveStream serves a client's multiplexed operations, each on a worker,
// and sends results back in batches (see resultSender). It returns when the
// client ends the stream (or ctx ends), or the node drains, once every
// operation it started is answered.
func (s *kvServer) serveStream(ctx context.Context, stream kvStream) {
	st := &streamServer{s: s, ctx: ctx, slots: make(chan struct{}, s.n.cfg.StreamOpsMax), out: newResultSender(stream, s.n.cfg.StreamOpsMax),
		deadlines: deadline.NewShared(ctx, opDeadlineSlice, opSharedTimeoutMax)}
	received := make(chan struct{})
	go func() { // ends when the stream does (after serveStream returns at the latest)
		defer close(received)
		for {
			req, err := stream.Recv()
			if err != nil || !st.dispatch(req) {
				return
			}
		}
	}()
	select {
	case <-received:
	case <-s.n.draining:
		st.drainQuiet(received)
	}
	st.stop()
	st.wg.Wait()
}

// streamServer is one client stream being served. The receiving goroutine
// starts operations itself (no hand-off to another goroutine per request).
type streamServer struct {
	s     *kvServer
	ctx   context.Context
	slots chan struct{} // one per operation in progress
	wg    sync.WaitGroup
	out   *batch.Sender[*api.StreamResult]
	// deadlines bound operations by their timeouts, sharing a context
	// among those ending in the same opDeadlineSlice.
	deadlines *deadline.Shared

	requests atomic.Uint64 // requests received; a drain waits for them to stop

	mu      sync.Mutex // held while a request is dispatched
	stopped bool
}

// dispatch starts a request's operations, or answers them SHUTTING_DOWN
// once the node drains (the client retries those elsewhere); false once the
// stream stopped taking requests.
func (st *streamServer) dispatch(req *api.StreamRequest) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stopped {
		return false
	}
	st.requests.Add(1)
	select {
	case <-st.s.n.draining:
		shutting := peer.ToStatus(coordinator.ErrClosed)
		for _, op := range req.GetOps() {
			st.out.Add(errorResult(op.GetId(), shutting))
		}
		return true
	default:
	}
	for _, op := range req.GetOps() {
		ctx, cancel := st.ctx, context.CancelFunc(func() {})
		if ms := op.GetTimeoutMs(); ms > 0 {
			ctx, cancel = st.deadlines.WithTimeout(time.Duration(ms) * time.Millisecond)
		}
		st.slots <- struct{}{}
		st.wg.Add(1)
		st.s.n.work.Run(func() {
			defer st.wg.Done()
			st.out.Add(st.s.runOp(ctx, op))
			cancel()
			<-st.slots
		})
	}
	return true
}

func (st *streamServer) stop() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.stopped = true
}

// drainQuiet returns once the stream ended, or no operation is in progress
// and no request came for streamDrainQuiet.
func (st *streamServer) drainQuiet(received <-chan struct{}) {
	quiet := time.NewTimer(streamDrainQuiet)
	defer quiet.Stop()
	last := st.requests.Load()
	for {
		select {
		case <-received:
			return
		case <-st.ctx.Done():
			return
		case <-quiet.C:
			n := st.requests.Load()
			if n == last && len(st.slots) == 0 {
				return
			}
			last = n
			quiet.Reset(streamDrainQuiet)
		}
	}
}

// runOp runs one operation as the unary call would, within ctx (which
// carries the operation's timeout).
func (s *kvServer) runOp(ctx context.Context, op *api.StreamOp) *api.StreamResult {
	switch x := op.GetOp().(type) {
	case *api.StreamOp_Get:
		resp, err := s.Get(ctx, x.Get)
		if err != nil {
			return errorResult(op.GetId(), err)
		}
		return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_Get{Get: resp}}
	case *api.StreamOp_Put:
		resp, err := s.Put(ctx, x.Put)
		if err != nil {
			return errorResult(op.GetId(), err)
		}
		return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_Put{Put: resp}}
	case *api.StreamOp_Delete:
		resp, err := s.Delete(ctx, x.Delete)
		if err != nil {
			return errorResult(op.GetId(), err)
		}
		return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_Put{Put: resp}}
	case *api.StreamOp_KeepAlive:
		resp, err := (&leasesServer{n: s.n}).KeepAlive(ctx, x.KeepAlive)
		if err != nil {
			return errorResult(op.GetId(), err)
		}
		return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_KeepAlive{KeepAlive: resp}}
	}
	if res, ok := s.runRegisterOp(ctx, op); ok {
		return res
	}
	return errorResult(op.GetId(), peer.ToStatus(coordinator.ErrInvalidArgument))
}

func errorResult(id uint64, err error) *api.StreamResult { return api.StreamErrorResult(id, err) }

// newResultSender sends a stream's results in batches of at most maxOps
// results and about api.BatchBytes, sent by the operation
// that finishes when no send is in progress (package batch).
func newResultSender(stream kvStream, maxOps int) *batch.Sender[*api.StreamResult] {
	send := func(b []*api.StreamResult) error { return stream.Send(&api.StreamResponse{Results: b}) }
	take := func(q []*api.StreamResult) int {
		n, size := 0, 0
		for n < len(q) && n < maxOps && size < api.BatchBytes {
			size += resultSize(q[n])
			n++
		}
		return n
	}
	return batch.NewSender(send, take, nil)
}

// resultSize is about the bytes r takes in a message: its values and
// context, plus a little for the rest.
func resultSize(r *api.StreamResult) int {
	n := 64
	var vals [][]byte
	switch x := r.GetResult().(type) {
	case *api.StreamResult_Get:
		vals, n = x.Get.GetValues(), n+len(x.Get.GetContext())
	case *api.StreamResult_Put:
		vals, n = x.Put.GetValues(), n+len(x.Put.GetContext())
	case *api.StreamResult_Error:
		n += len(x.Error.GetMessage())
	case *api.StreamResult_Serial:
		vals = [][]byte{x.Serial.GetValue()}
	}
	for _, v := range vals {
		n += len(v) + 8
	}
	return n
}
