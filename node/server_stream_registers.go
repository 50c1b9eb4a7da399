package node

import (
	"context"

	"github.com/quorumkv/quorumkv/api"
)

// runRegisterOp runs a register or lock request of a client stream through
// the Serial and Locks services' own handlers, as the unary call would
// (ok false: op is neither).
func (s *kvServer) runRegisterOp(ctx context.Context, op *api.StreamOp) (res *api.StreamResult, ok bool) {
	sr, lr := &serialServer{n: s.n}, &locksServer{n: s.n}
	var serial *api.SerialResponse
	var lock *api.LockResponse
	var err error
	switch x := op.GetOp().(type) {
	case *api.StreamOp_SerialGet:
		serial, err = sr.Get(ctx, x.SerialGet)
	case *api.StreamOp_CompareAndSet:
		serial, err = sr.CompareAndSet(ctx, x.CompareAndSet)
	case *api.StreamOp_SerialDelete:
		serial, err = sr.Delete(ctx, x.SerialDelete)
	case *api.StreamOp_Increment:
		serial, err = sr.Increment(ctx, x.Increment)
	case *api.StreamOp_Acquire:
		lock, err = lr.Acquire(ctx, x.Acquire)
	case *api.StreamOp_Renew:
		lock, err = lr.Renew(ctx, x.Renew)
	case *api.StreamOp_Release:
		lock, err = lr.Release(ctx, x.Release)
	case *api.StreamOp_DescribeLock:
		lock, err = lr.Describe(ctx, x.DescribeLock)
	default:
		return nil, false
	}
	switch {
	case err != nil:
		return errorResult(op.GetId(), err), true
	case serial != nil:
		return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_Serial{Serial: serial}}, true
	}
	return &api.StreamResult{Id: op.GetId(), Result: &api.StreamResult_Lock{Lock: lock}}, true
}
