package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/sent"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/serial"
)

// serialServer is the public Serial service (linearizable registers).
type serialServer struct {
	api.UnimplementedSerialServer
	n *Node
}

func (s *serialServer) Get(ctx context.Context, req *api.SerialGetRequest) (*api.SerialResponse, error) {
	return s.register(ctx, req.GetKey(), nil, paxos.Op{Kind: paxos.OpGet},
		func(ctx context.Context, c api.SerialClient) (*api.SerialResponse, error) { return c.Get(ctx, req) })
}

func (s *serialServer) CompareAndSet(ctx context.Context, req *api.CompareAndSetRequest) (*api.SerialResponse, error) {
	op := paxos.Op{Kind: paxos.OpSet, Value: req.GetValue()}
	switch e := req.GetExpect().(type) {
	case *api.CompareAndSetRequest_ExpectVersion:
		op.HasVersion, op.Version = true, e.ExpectVersion
	case *api.CompareAndSetRequest_ExpectAbsent:
		op.ExpectAbsent = e.ExpectAbsent
	}
	if len(req.GetValue()) > s.n.proposer.Config().MaxValue {
		return nil, status.Errorf(codes.InvalidArgument, "value is %d bytes, the limit is %d", len(req.GetValue()), s.n.proposer.Config().MaxValue)
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	return s.register(ctx, req.GetKey(), req.GetFence(), withRetry(withID(op, req.GetOpId()), req.GetRetry()),
		func(ctx context.Context, c api.SerialClient) (*api.SerialResponse, error) {
			return c.CompareAndSet(ctx, req)
		})
}

func (s *serialServer) Delete(ctx context.Context, req *api.SerialDeleteRequest) (*api.SerialResponse, error) {
	op := paxos.Op{Kind: paxos.OpDelete}
	if e, ok := req.GetExpect().(*api.SerialDeleteRequest_ExpectVersion); ok {
		op.HasVersion, op.Version = true, e.ExpectVersion
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	return s.register(ctx, req.GetKey(), req.GetFence(), withRetry(withID(op, req.GetOpId()), req.GetRetry()),
		func(ctx context.Context, c api.SerialClient) (*api.SerialResponse, error) { return c.Delete(ctx, req) })
}

func (s *serialServer) Increment(ctx context.Context, req *api.IncrementRequest) (*api.SerialResponse, error) {
	op := paxos.Op{Kind: paxos.OpIncrement, By: req.GetBy()}
	if op.By == 0 {
		op.By = 1
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	return s.register(ctx, req.GetKey(), req.GetFence(), withRetry(withID(op, req.GetOpId()), req.GetRetry()),
		func(ctx context.Context, c api.SerialClient) (*api.SerialResponse, error) {
			return c.Increment(ctx, req)
		})
}

// register checks a register request, then runs it at the key's preferred
// proposer (see routed).
func (s *serialServer) register(ctx context.Context, key []byte, fence *api.Fence, op paxos.Op,
	remote func(context.Context, api.SerialClient) (*api.SerialResponse, error)) (*api.SerialResponse, error) {
	if err := s.n.checkRegisterName("key", len(key), op.ID); err != nil {
		return nil, err
	}
	if fence != nil {
		if fence.GetLock() == "" {
			return nil, status.Error(codes.InvalidArgument, "a fence needs a lock name")
		}
		op.Fence = paxos.Fence{Lock: fence.GetLock(), Token: fence.GetToken()}
	}
	return routed(ctx, s.n, key,
		func(ctx context.Context, cc grpc.ClientConnInterface) (*api.SerialResponse, error) {
			return remote(ctx, api.NewSerialClient(cc))
		},
		func(ctx context.Context, retry bool) (*api.SerialResponse, error) {
			res, err := s.n.proposer.Do(ctx, serial.KindSerial, key, withRetry(op, retry))
			if err != nil {
				return nil, err
			}
			if err := outcomeStatus(res.Result, op.Fence); err != nil {
				return nil, err
			}
			return &api.SerialResponse{
				Key: key, Applied: op.Kind != paxos.OpGet && res.Outcome == paxos.Applied,
				Found: res.Exists, Value: res.Value, Version: res.Version, Deduplicated: res.Deduplicated,
				Settled: res.Remembered && res.Outcome != paxos.Applied,
				Receipt: receiptToProto(res.Receipt),
			}, nil
		},
		func(r *api.SerialResponse) bool {
			return op.Kind != paxos.OpGet && !r.GetApplied() && !r.GetDeduplicated() && !r.GetSettled()
		})
}

// checkRegisterName refuses an empty or over-long key or lock name, and an
// over-long op id, with INVALID_ARGUMENT.
func (n *Node) checkRegisterName(what string, size int, opID []byte) error {
	switch {
	case size == 0:
		return status.Errorf(codes.InvalidArgument, "empty %s", what)
	case size > coordinator.DefaultMaxKeySize:
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes, the limit is %d", what, size, coordinator.DefaultMaxKeySize)
	case len(opID) > serial.MaxOpIDLen:
		return status.Errorf(codes.InvalidArgument, "op_id is %d bytes, the limit is %d", len(opID), serial.MaxOpIDLen)
	}
	return nil
}

func receiptToProto(r serial.Receipt) *api.SerialReceipt {
	return &api.SerialReceipt{Proposer: r.Proposer, Epoch: r.Epoch, Rounds: uint32(r.Rounds), FastPath: r.FastPath, Batched: uint32(r.Batched)}
}

// routed runs a register request (its id already fixed) where it belongs:
// here when this node is the key's preferred proposer or the request was
// forwarded here, and otherwise forwarded once to the preferred proposer
// with half of what is left of the deadline, at most maxForwardWait. When the forward fails
// without a decided answer (the request never left, the node is stopping,
// or no quorum or an unknown outcome there) and time is left, it runs
// here, under the same op id: a change the other node applied is not
// applied again. A definite failure here after a forward that may have
// run there is reported as an unknown outcome.
func routed[R any](ctx context.Context, n *Node, key []byte,
	remote func(context.Context, grpc.ClientConnInterface) (R, error), local func(ctx context.Context, retry bool) (R, error),
	notApplied func(R) bool) (R, error) {
	var zero R
	done, err := n.ops.start()
	if err != nil {
		return zero, peer.ToStatus(err)
	}
	defer done()
	ctx, cancel := answerBy(ctx, n.proposer.Config().RequestTimeout)
	defer cancel()
	to := n.preferredProposer(key)
	if isForwarded(ctx) || to == n.cfg.ID {
		res, err := local(ctx, false)
		return res, serialStatus(ctx, err)
	}
	dl, _ := ctx.Deadline()
	fctx, cancel := context.WithTimeout(ctx, min(time.Until(dl)/2, maxForwardWait))
	var out R
	ferr := n.forwarder.Forward(fctx, to, func(ctx context.Context, cc grpc.ClientConnInterface) error {
		var err error
		out, err = remote(ctx, cc)
		return err
	})
	cancel()
	if ferr == nil {
		return out, nil
	}
	notSent := sent.Is(ferr) || errors.Is(ferr, coordinator.ErrUnreachable)
	switch reasonOf(ferr) {
	case api.ReasonShuttingDown, api.ReasonQuorumUnavailable, api.ReasonContended:
		notSent = true
	case api.ReasonOutcomeUnknown, "":
	default:
		return zero, ferr // decided there
	}
	if !notSent {
		if st, ok := status.FromError(ferr); ok && reasonOf(ferr) == "" && !ambiguous(st.Code()) {
			return zero, ferr // decided there (an invalid argument, say)
		}
	}
	if ctx.Err() != nil {
		if notSent {
			return zero, ferr
		}
		return zero, serialStatus(ctx, serial.ErrOutcomeUnknown)
	}
	n.log.Debug("running a register request here after its forward failed", "to", to, "sent", !notSent, "err", ferr)
	res, err := local(ctx, !notSent)
	if err != nil && !notSent && serial.Definite(err) && reasonOf(err) == "" {
		err = fmt.Errorf("%w (forwarded to %s first: %v)", serial.ErrOutcomeUnknown, to, err)
	}
	if err == nil && !notSent && notApplied != nil && notApplied(res) {
		// The forwarded try may have applied the change, and the register
		// may have forgotten its id since: "not applied" would be a guess.
		return zero, serialStatus(ctx, fmt.Errorf("%w (forwarded to %s first; not applied here)", serial.ErrOutcomeUnknown, to))
	}
	return res, serialStatus(ctx, err)
}

// answerBy bounds a request so that its answer reaches the caller before
// the caller's deadline: a tenth of the time left, at most answerMargin,
// is kept for the answer's way back. A request without a deadline gets
// timeout.
func answerBy(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return context.WithTimeout(ctx, timeout)
	}
	left := time.Until(dl)
	return context.WithDeadline(ctx, dl.Add(-min(left/10, answerMargin)))
}

// maxForwardWait bounds how long a forwarded register request may take
// before this node runs it itself: a preferred proposer that is frozen or
// cut off holds requests no longer than this.
const maxForwardWait = 2 * time.Second

// answerMargin is the most of a deadline kept for the answer's way back.
const answerMargin = 100 * time.Millisecond

// ambiguous reports the codes a call can fail with after its request left
// without the other node having answered it.
func ambiguous(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal:
		return true
	}
	return false
}

// withRetry marks op as a retry: an earlier try may have applied it.
func withRetry(op paxos.Op, retry bool) paxos.Op {
	op.Retry = op.Retry || retry
	return op
}

func withID(op paxos.Op, id []byte) paxos.Op {
	op.ID = id
	return op
}
