package client

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

// An operation larger than api.BatchBytes never shares a batch, and one
// past a node's message limit would make the node end the stream it came
// on, failing every operation in flight there. So such an operation leaves
// alone, as the KV service's unary call on the endpoint's gRPC connection:
// a node refuses one that is too large for that call only (INVALID_ARGUMENT,
// or RESOURCE_EXHAUSTED from gRPC past its receive limit, which single
// reports as INVALID_ARGUMENT too), and the shared stream is untouched.

// singleCaller runs one operation as a unary call.
type singleCaller func(ctx context.Context, op *api.StreamOp) (*api.StreamResult, error)

// goesAlone reports whether op leaves as a unary call rather than on the
// stream.
func goesAlone(op *api.StreamOp) bool { return opBytes(op) > api.BatchBytes }

// grpcSingle runs operations as KV.Get, KV.Put and KV.Delete calls on cc.
func grpcSingle(cc *grpc.ClientConn) singleCaller {
	kv := api.NewKVClient(cc)
	return func(ctx context.Context, op *api.StreamOp) (*api.StreamResult, error) {
		var res *api.StreamResult
		var err error
		switch x := op.GetOp().(type) {
		case *api.StreamOp_Get:
			var r *api.GetResponse
			r, err = kv.Get(ctx, x.Get)
			res = &api.StreamResult{Result: &api.StreamResult_Get{Get: r}}
		case *api.StreamOp_Put:
			var r *api.PutResponse
			r, err = kv.Put(ctx, x.Put)
			res = &api.StreamResult{Result: &api.StreamResult_Put{Put: r}}
		case *api.StreamOp_Delete:
			var r *api.PutResponse
			r, err = kv.Delete(ctx, x.Delete)
			res = &api.StreamResult{Result: &api.StreamResult_Put{Put: r}}
		default:
			return nil, status.Error(codes.InvalidArgument, "empty operation")
		}
		if err != nil {
			return nil, singleError(err, opBytes(op))
		}
		return res, nil
	}
}

// singleError is a unary call's failure for an operation of size bytes.
// RESOURCE_EXHAUSTED without a reason is gRPC refusing a message past its
// size limit (the node's receive limit, or the client's send limit): the
// operation is too large for the node, INVALID_ARGUMENT like one the node
// read and refused. (A node that refuses an operation for its load or its
// disk says so with a reason.)
func singleError(err error, size int) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.ResourceExhausted || api.ErrorInfo(st).GetReason() != "" {
		return err
	}
	return status.Error(codes.InvalidArgument, fmt.Sprintf("operation of %d bytes is larger than the node accepts: %s", size, st.Message()))
}

// startAlone runs op as a unary call; its result comes on the returned
// operation's done channel, like a streamed one's. Closing the mux ends
// the call.
func (m *mux) startAlone(ctx context.Context, op *api.StreamOp) (*muxOp, error) {
	o := &muxOp{ctx: ctx, op: op, done: make(chan muxResult, 1)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, status.Error(codes.Canceled, "client is closed")
	}
	m.wg.Go(func() {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(m.closing, cancel)()
		res, err := m.single(cctx, op)
		o.done <- muxResult{res: res, err: err}
	})
	return o, nil
}
