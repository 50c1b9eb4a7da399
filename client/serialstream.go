package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

// streamRegisters sends an endpoint's register and lock requests over its
// mux — the stream its KV operations travel — shaped like the unary calls
// of the Serial and Locks services, so everything above it (routing, op
// ids, resends, typed errors) is the same. A request too large to share a
// batch goes as the unary call.
type streamRegisters struct {
	m      *mux
	serial api.SerialClient
	locks  api.LocksClient
}

var (
	_ api.SerialClient = streamRegisters{}
	_ api.LocksClient  = streamRegisters{}
)

func (s streamRegisters) Get(ctx context.Context, in *api.SerialGetRequest, opts ...grpc.CallOption) (*api.SerialResponse, error) {
	return s.register(ctx, &api.StreamOp{Op: &api.StreamOp_SerialGet{SerialGet: in}}, len(in.GetKey()),
		func() (*api.SerialResponse, error) { return s.serial.Get(ctx, in, opts...) })
}

func (s streamRegisters) CompareAndSet(ctx context.Context, in *api.CompareAndSetRequest, opts ...grpc.CallOption) (*api.SerialResponse, error) {
	return s.register(ctx, &api.StreamOp{Op: &api.StreamOp_CompareAndSet{CompareAndSet: in}}, len(in.GetKey())+len(in.GetValue()),
		func() (*api.SerialResponse, error) { return s.serial.CompareAndSet(ctx, in, opts...) })
}

func (s streamRegisters) Delete(ctx context.Context, in *api.SerialDeleteRequest, opts ...grpc.CallOption) (*api.SerialResponse, error) {
	return s.register(ctx, &api.StreamOp{Op: &api.StreamOp_SerialDelete{SerialDelete: in}}, len(in.GetKey()),
		func() (*api.SerialResponse, error) { return s.serial.Delete(ctx, in, opts...) })
}

func (s streamRegisters) Increment(ctx context.Context, in *api.IncrementRequest, opts ...grpc.CallOption) (*api.SerialResponse, error) {
	return s.register(ctx, &api.StreamOp{Op: &api.StreamOp_Increment{Increment: in}}, len(in.GetKey()),
		func() (*api.SerialResponse, error) { return s.serial.Increment(ctx, in, opts...) })
}

// Acquire waits for a held lock as the unary call: a request the node holds
// for a wait would make the stream look silent to the endpoint's health
// (a node answering nothing while work is outstanding).
func (s streamRegisters) Acquire(ctx context.Context, in *api.AcquireRequest, opts ...grpc.CallOption) (*api.LockResponse, error) {
	size := len(in.GetName()) + len(in.GetHolder())
	if in.GetWaitMs() > 0 {
		size = api.BatchBytes + 1
	}
	return s.lock(ctx, &api.StreamOp{Op: &api.StreamOp_Acquire{Acquire: in}}, size,
		func() (*api.LockResponse, error) { return s.locks.Acquire(ctx, in, opts...) })
}

func (s streamRegisters) Renew(ctx context.Context, in *api.RenewRequest, opts ...grpc.CallOption) (*api.LockResponse, error) {
	return s.lock(ctx, &api.StreamOp{Op: &api.StreamOp_Renew{Renew: in}}, len(in.GetName()),
		func() (*api.LockResponse, error) { return s.locks.Renew(ctx, in, opts...) })
}

func (s streamRegisters) Release(ctx context.Context, in *api.ReleaseRequest, opts ...grpc.CallOption) (*api.LockResponse, error) {
	return s.lock(ctx, &api.StreamOp{Op: &api.StreamOp_Release{Release: in}}, len(in.GetName()),
		func() (*api.LockResponse, error) { return s.locks.Release(ctx, in, opts...) })
}

func (s streamRegisters) Describe(ctx context.Context, in *api.DescribeLockRequest, opts ...grpc.CallOption) (*api.LockResponse, error) {
	return s.lock(ctx, &api.StreamOp{Op: &api.StreamOp_DescribeLock{DescribeLock: in}}, len(in.GetName()),
		func() (*api.LockResponse, error) { return s.locks.Describe(ctx, in, opts...) })
}

// register runs op on the stream, or unary when size (its key and value
// bytes) is past what a batch carries.
func (s streamRegisters) register(ctx context.Context, op *api.StreamOp, size int, unary func() (*api.SerialResponse, error)) (*api.SerialResponse, error) {
	if size > api.BatchBytes {
		return unary()
	}
	r, err := s.m.do(ctx, op)
	if err != nil {
		return nil, err
	}
	if r.GetSerial() == nil {
		return nil, status.Error(codes.Internal, "the node answered a register request with another kind of result")
	}
	return r.GetSerial(), nil
}

// lock is register for lock requests.
func (s streamRegisters) lock(ctx context.Context, op *api.StreamOp, size int, unary func() (*api.LockResponse, error)) (*api.LockResponse, error) {
	if size > api.BatchBytes {
		return unary()
	}
	r, err := s.m.do(ctx, op)
	if err != nil {
		return nil, err
	}
	if r.GetLock() == nil {
		return nil, status.Error(codes.Internal, "the node answered a lock request with another kind of result")
	}
	return r.GetLock(), nil
}

// streamLeases sends an endpoint's keep-alives over its mux, shaped like
// the Leases service's unary KeepAlive; the other lease calls are unary.
type streamLeases struct {
	api.LeasesClient
	m *mux
}

func (s streamLeases) KeepAlive(ctx context.Context, in *api.LeaseKeepAliveRequest, _ ...grpc.CallOption) (*api.LeaseKeepAliveResponse, error) {
	r, err := s.m.do(ctx, &api.StreamOp{Op: &api.StreamOp_KeepAlive{KeepAlive: in}})
	if err != nil {
		return nil, err
	}
	if r.GetKeepAlive() == nil {
		return nil, status.Error(codes.Internal, "the node answered a keep-alive with another kind of result")
	}
	return r.GetKeepAlive(), nil
}
