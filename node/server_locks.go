package node

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/serial"
)

// locksServer is the public Locks service (leases with fencing tokens).
type locksServer struct {
	api.UnimplementedLocksServer
	n *Node
}

func (s *locksServer) Acquire(ctx context.Context, req *api.AcquireRequest) (*api.LockResponse, error) {
	if err := s.n.checkRegisterName("lock name", len(req.GetName()), req.GetOpId()); err != nil {
		return nil, err
	}
	switch {
	case req.GetHolder() == "":
		return nil, status.Error(codes.InvalidArgument, "empty holder")
	case len(req.GetHolder()) > maxHolder:
		return nil, status.Errorf(codes.InvalidArgument, "holder is %d bytes, the limit is %d", len(req.GetHolder()), maxHolder)
	case req.GetTtlMs() == 0:
		return nil, status.Error(codes.InvalidArgument, "ttl_ms must be positive")
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	ttl, wait := time.Duration(req.GetTtlMs())*time.Millisecond, time.Duration(req.GetWaitMs())*time.Millisecond
	return s.lock(ctx, req.GetName(), false,
		func(ctx context.Context, c api.LocksClient) (*api.LockResponse, error) { return c.Acquire(ctx, req) },
		func(ctx context.Context) (serial.LockResult, error) {
			return s.n.locks.Acquire(ctx, req.GetName(), req.GetHolder(), ttl, wait, req.GetOpId())
		})
}

// maxHolder bounds a lock holder's name.
const maxHolder = 256

func (s *locksServer) Renew(ctx context.Context, req *api.RenewRequest) (*api.LockResponse, error) {
	if err := s.n.checkRegisterName("lock name", len(req.GetName()), req.GetOpId()); err != nil {
		return nil, err
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	return s.lock(ctx, req.GetName(), false,
		func(ctx context.Context, c api.LocksClient) (*api.LockResponse, error) { return c.Renew(ctx, req) },
		func(ctx context.Context) (serial.LockResult, error) {
			return s.n.locks.Renew(ctx, req.GetName(), req.GetToken(), req.GetOpId())
		})
}

func (s *locksServer) Release(ctx context.Context, req *api.ReleaseRequest) (*api.LockResponse, error) {
	if err := s.n.checkRegisterName("lock name", len(req.GetName()), req.GetOpId()); err != nil {
		return nil, err
	}
	if req.OpId == nil {
		req.OpId = serial.NewOpID()
	}
	return s.lock(ctx, req.GetName(), false,
		func(ctx context.Context, c api.LocksClient) (*api.LockResponse, error) { return c.Release(ctx, req) },
		func(ctx context.Context) (serial.LockResult, error) {
			return s.n.locks.Release(ctx, req.GetName(), req.GetToken(), req.GetOpId())
		})
}

func (s *locksServer) Describe(ctx context.Context, req *api.DescribeLockRequest) (*api.LockResponse, error) {
	if err := s.n.checkRegisterName("lock name", len(req.GetName()), nil); err != nil {
		return nil, err
	}
	return s.lock(ctx, req.GetName(), true,
		func(ctx context.Context, c api.LocksClient) (*api.LockResponse, error) { return c.Describe(ctx, req) },
		func(ctx context.Context) (serial.LockResult, error) { return s.n.locks.Describe(ctx, req.GetName()) })
}

// lock runs a lock request at the lock's preferred proposer (see routed).
func (s *locksServer) lock(ctx context.Context, name string, read bool,
	remote func(context.Context, api.LocksClient) (*api.LockResponse, error),
	local func(context.Context) (serial.LockResult, error)) (*api.LockResponse, error) {
	return routed(ctx, s.n, []byte(name),
		func(ctx context.Context, cc grpc.ClientConnInterface) (*api.LockResponse, error) {
			return remote(ctx, api.NewLocksClient(cc))
		},
		func(ctx context.Context, _ bool) (*api.LockResponse, error) {
			res, err := local(ctx)
			if err != nil {
				return nil, err
			}
			return lockToProto(res), nil
		},
		func(r *api.LockResponse) bool { return !read && !r.GetAcquired() })
}

func lockToProto(r serial.LockResult) *api.LockResponse {
	out := &api.LockResponse{
		Name: r.Name, Acquired: r.Acquired, Held: r.Lock.Held, Token: r.Lock.Token,
		Renewals: r.Lock.Renewals, RetryAfterMs: uint32(min(r.RetryAfter.Milliseconds(), 1<<32-1)),
		Receipt: receiptToProto(r.Receipt),
	}
	if r.Lock.Held {
		out.TtlMs, out.HeldBy = r.Lock.TTLms, r.Lock.Holder
	}
	return out
}
