package api

import (
	"context"

	"google.golang.org/grpc/status"
)

// RunRegisterOp answers a client stream's register or lock request with
// the Serial and Locks handlers given, as the unary call would be answered
// (ok false: op is neither).
func RunRegisterOp(ctx context.Context, op *StreamOp, serial SerialServer, locks LocksServer) (res *StreamResult, ok bool) {
	var sr *SerialResponse
	var lr *LockResponse
	var err error
	switch x := op.GetOp().(type) {
	case *StreamOp_SerialGet:
		sr, err = serial.Get(ctx, x.SerialGet)
	case *StreamOp_CompareAndSet:
		sr, err = serial.CompareAndSet(ctx, x.CompareAndSet)
	case *StreamOp_SerialDelete:
		sr, err = serial.Delete(ctx, x.SerialDelete)
	case *StreamOp_Increment:
		sr, err = serial.Increment(ctx, x.Increment)
	case *StreamOp_Acquire:
		lr, err = locks.Acquire(ctx, x.Acquire)
	case *StreamOp_Renew:
		lr, err = locks.Renew(ctx, x.Renew)
	case *StreamOp_Release:
		lr, err = locks.Release(ctx, x.Release)
	case *StreamOp_DescribeLock:
		lr, err = locks.Describe(ctx, x.DescribeLock)
	default:
		return nil, false
	}
	switch {
	case err != nil:
		return StreamErrorResult(op.GetId(), err), true
	case sr != nil:
		return &StreamResult{Id: op.GetId(), Result: &StreamResult_Serial{Serial: sr}}, true
	}
	return &StreamResult{Id: op.GetId(), Result: &StreamResult_Lock{Lock: lr}}, true
}

// StreamErrorResult is operation id's result failing with err's gRPC
// status, as the unary call would have failed.
func StreamErrorResult(id uint64, err error) *StreamResult {
	p := status.Convert(err).Proto()
	return &StreamResult{Id: id, Result: &StreamResult_Error{Error: &StreamError{
		Code: p.GetCode(), Message: p.GetMessage(), Details: p.GetDetails(),
	}}}
}
