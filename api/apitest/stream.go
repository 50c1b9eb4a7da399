package apitest

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

// RegisterStream registers on srv a KV service whose Stream answers the
// register and lock requests of a client's stream with serial's and
// locks' handlers, as the unary calls would be answered, each on a
// goroutine of its own; any other operation fails INVALID_ARGUMENT.
func RegisterStream(srv *grpc.Server, serial api.SerialServer, locks api.LocksServer) {
	api.RegisterKVServer(srv, streamServer{serial: serial, locks: locks})
}

type streamServer struct {
	api.UnimplementedKVServer
	serial api.SerialServer
	locks  api.LocksServer
}

func (s streamServer) Stream(stream api.KV_StreamServer) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			return nil
		}
		for _, op := range req.GetOps() {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := s.run(stream.Context(), op)
				mu.Lock()
				defer mu.Unlock()
				_ = stream.Send(&api.StreamResponse{Results: []*api.StreamResult{res}})
			}()
		}
	}
}

func (s streamServer) run(ctx context.Context, op *api.StreamOp) *api.StreamResult {
	if ms := op.GetTimeoutMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(ms)*time.Millisecond)
		defer cancel()
	}
	if res, ok := api.RunRegisterOp(ctx, op, s.serial, s.locks); ok {
		return res
	}
	return api.StreamErrorResult(op.GetId(), status.Error(codes.InvalidArgument, "apitest: not a register or lock request"))
}
