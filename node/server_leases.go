package node

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/peer"
)

// leasesServer is the public Leases service.
type leasesServer struct {
	api.UnimplementedLeasesServer
	n *Node
}

// leaseStatus maps a lease operation's error to its gRPC status.
func (n *Node) leaseStatus(err error) error {
	var nf *lease.NotFoundError
	switch {
	case errors.As(err, &nf):
		return withReason(codes.NotFound, err.Error(), api.ReasonLeaseNotFound, map[string]string{"lease": nf.ID.String()})
	case errors.Is(err, lease.ErrBadTTL), errors.Is(err, lease.ErrBadID):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, errLeaseUnreachable):
		return status.Error(codes.Unavailable, err.Error())
	}
	return peer.ToStatus(n.explain(err))
}

// leaseID reads a request's lease id (0 is none).
func leaseID(raw uint64) (lease.ID, error) {
	if raw == 0 {
		return 0, status.Error(codes.InvalidArgument, "lease id 0 names no lease")
	}
	return lease.ID(raw), nil
}

func (s *leasesServer) Grant(ctx context.Context, req *api.LeaseGrantRequest) (*api.LeaseGrantResponse, error) {
	done, err := s.n.ops.start()
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	defer done()
	ttl := time.Duration(req.GetTtlMs()) * time.Millisecond
	id, err := s.n.grantLease(ctx, ttl)
	if err != nil {
		return nil, s.n.leaseStatus(err)
	}
	return &api.LeaseGrantResponse{Lease: uint64(id), TtlMs: req.GetTtlMs()}, nil
}

func (s *leasesServer) KeepAlive(ctx context.Context, req *api.LeaseKeepAliveRequest) (*api.LeaseKeepAliveResponse, error) {
	id, err := leaseID(req.GetLease())
	if err != nil {
		return nil, err
	}
	ttl, acks, err := s.n.keepAlive(ctx, id)
	if err != nil {
		return nil, s.n.leaseStatus(err)
	}
	return &api.LeaseKeepAliveResponse{Lease: uint64(id), TtlMs: uint64(ttl.Milliseconds()), Acks: uint32(acks)}, nil
}

func (s *leasesServer) Revoke(ctx context.Context, req *api.LeaseRevokeRequest) (*api.LeaseRevokeResponse, error) {
	id, err := leaseID(req.GetLease())
	if err != nil {
		return nil, err
	}
	done, err := s.n.ops.start()
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	defer done()
	keys, err := s.n.revokeLease(ctx, id)
	if err != nil {
		return nil, s.n.leaseStatus(err)
	}
	return &api.LeaseRevokeResponse{Keys: uint32(keys)}, nil
}

func (s *leasesServer) Show(ctx context.Context, req *api.LeaseShowRequest) (*api.LeaseShowResponse, error) {
	id, err := leaseID(req.GetLease())
	if err != nil {
		return nil, err
	}
	resp, err := s.n.showLease(ctx, id)
	if err != nil {
		return nil, s.n.leaseStatus(err)
	}
	return resp, nil
}

// Leases answers a peer about leases this node replicates.
func (s *replicaServer) Leases(_ context.Context, req *api.LeasePeerRequest) (*api.LeasePeerResponse, error) {
	if len(req.GetLeases()) > 1024 {
		return nil, status.Errorf(codes.InvalidArgument, "%d leases in one request (limit 1024)", len(req.GetLeases()))
	}
	resp, err := s.n.answerLeases(req)
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	return resp, nil
}
