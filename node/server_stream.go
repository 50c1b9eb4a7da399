package node

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
)

const (
	// streamOpsMax bounds the operations one client stream has in progress
	// here; a client that sends more waits (gRPC flow control).
	streamOpsMax = 1024
	// streamDrainQuiet is how long a draining stream keeps answering
	// SHUTTING_DOWN to new operations (which the client retries elsewhere)
	// after its last operation finished, before it ends.
	streamDrainQuiet = 50 * time.Millisecond
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

// serveStream serves a client's multiplexed operations, each on its own
// goroutine, and sends results back in batches: whatever finished while the
// previous batch was being sent. It returns when the client ends the stream
// (or ctx ends), or the node drains, once every operation is answered.
func (s *kvServer) serveStream(ctx context.Context, stream kvStream) {
	reqs := make(chan *api.StreamRequest)
	go func() { // ends when the stream does (after Stream returns at the latest)
		defer close(reqs)
		for {
			req, err := stream.Recv()
			if err != nil {
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	results := make(chan *api.StreamResult, streamOpsMax)
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		sendBatches(stream, results)
	}()
	var wg sync.WaitGroup
	slots := make(chan struct{}, streamOpsMax)
	s.serveOps(ctx, reqs, func(op *api.StreamOp) {
		slots <- struct{}{}
		wg.Add(1)
		s.n.work.run(func() {
			defer wg.Done()
			results <- s.runOp(ctx, op)
			<-slots
		})
	}, results, slots)
	wg.Wait()
	close(results)
	<-sent
}

// serveOps starts every operation received until the stream ends or the
// node drains; once draining, it answers new operations SHUTTING_DOWN until
// none is in progress and none came for streamDrainQuiet.
func (s *kvServer) serveOps(ctx context.Context, reqs <-chan *api.StreamRequest, start func(*api.StreamOp),
	results chan<- *api.StreamResult, slots chan struct{}) {
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				return
			}
			for _, op := range req.GetOps() {
				start(op)
			}
		case <-s.n.draining:
			s.refuseWhileDraining(ctx, reqs, results, slots)
			return
		}
	}
}

func (s *kvServer) refuseWhileDraining(ctx context.Context, reqs <-chan *api.StreamRequest,
	results chan<- *api.StreamResult, slots chan struct{}) {
	shutting := toStatus(coordinator.ErrClosed)
	quiet := time.NewTimer(streamDrainQuiet)
	defer quiet.Stop()
	for {
		select {
		case req, ok := <-reqs:
			if !ok {
				return
			}
			for _, op := range req.GetOps() {
				results <- errorResult(op.GetId(), shutting)
			}
			quiet.Reset(streamDrainQuiet)
		case <-quiet.C:
			if len(slots) == 0 {
				return
			}
			quiet.Reset(streamDrainQuiet)
		case <-ctx.Done():
			return
		}
	}
}

// runOp runs one operation as the unary call would.
func (s *kvServer) runOp(ctx context.Context, op *api.StreamOp) *api.StreamResult {
	if ms := op.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
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
	}
	return errorResult(op.GetId(), toStatus(coordinator.ErrInvalidArgument))
}

func errorResult(id uint64, err error) *api.StreamResult {
	p := status.Convert(err).Proto()
	return &api.StreamResult{Id: id, Result: &api.StreamResult_Error{Error: &api.StreamError{
		Code: p.GetCode(), Message: p.GetMessage(), Details: p.GetDetails(),
	}}}
}

// sendBatches sends results as they come, batching those that wait; after a
// send failure it keeps draining so no operation blocks.
func sendBatches(stream kvStream, results <-chan *api.StreamResult) {
	failed := false
	for r := range results {
		batch := []*api.StreamResult{r}
		size := proto.Size(r)
	drain:
		for len(batch) < streamOpsMax && size < api.BatchBytes {
			select {
			case r, ok := <-results:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += proto.Size(r)
			default:
				break drain
			}
		}
		if !failed && stream.Send(&api.StreamResponse{Results: batch}) != nil {
			failed = true
		}
	}
}
