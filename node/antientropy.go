package node

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/peer"
)

func toInts(xs []uint32) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

// The peer side, served by replicaServer.

func (s *replicaServer) checkPartition(p uint32) error {
	if int(p) >= s.n.cfg.Partitions {
		return status.Errorf(codes.InvalidArgument, "partition %d out of range [0, %d)", p, s.n.cfg.Partitions)
	}
	return nil
}

// owns checks p is a partition this node replicates or gains: an exchange
// (repair, transfer or reap) about any other partition is refused, so a
// node that dropped a partition never counts as an equal, empty replica
// of it and never takes its data back.
func (s *replicaServer) owns(p uint32) error {
	if err := s.checkPartition(p); err != nil {
		return err
	}
	if v := s.n.members.View(); !s.n.takesWrites(v, int(p)) {
		return peer.ToStatus(s.n.notReplica(v))
	}
	return nil
}

// ownsWith is owns for a peer that sends data or reaps: the sender must
// be an owner of p too (a current replica or a node gaining p) in this
// node's view. A node that was removed or parked and does not know it yet
// must not push its copies back into the partition: the current owners may
// have reaped the tombstones that delete them.
func (s *replicaServer) ownsWith(p uint32, from string, epoch uint64) error {
	if err := s.owns(p); err != nil {
		return err
	}
	s.n.transport.Learn(from, epoch)
	v := s.n.members.View()
	if from != "" && !slices.Contains(placementOf(v).Owners(int(p)), from) {
		return status.Errorf(codes.FailedPrecondition, "%s is not an owner of partition %d at ring epoch %d here", from, p, v.Epoch)
	}
	return nil
}

func (s *replicaServer) TreeRoot(ctx context.Context, req *api.TreeRequest) (*api.TreeRootResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	root, err := s.n.store.AntiEntropy().Root(ctx, int(req.GetPartition()))
	return &api.TreeRootResponse{Root: root}, peer.ToStatus(err)
}

func (s *replicaServer) TreeBranches(ctx context.Context, req *api.TreeRequest) (*api.TreeHashesResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	bs, err := s.n.store.AntiEntropy().Branches(ctx, int(req.GetPartition()))
	return &api.TreeHashesResponse{Hashes: bs[:]}, peer.ToStatus(err)
}

func (s *replicaServer) TreeSegments(ctx context.Context, req *api.TreeSegmentsRequest) (*api.TreeHashesResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	segs, err := s.n.store.AntiEntropy().Segments(ctx, int(req.GetPartition()), toInts(req.GetBranches()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := make([]uint64, 0, len(segs)*antientropy.SegmentsPerBranch)
	for _, b := range segs {
		out = append(out, b[:]...)
	}
	return &api.TreeHashesResponse{Hashes: out}, nil
}

func (s *replicaServer) TreeKeys(ctx context.Context, req *api.TreeKeysRequest) (*api.TreeKeysResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	ks, err := s.n.store.AntiEntropy().Keys(ctx, int(req.GetPartition()), toInts(req.GetSegments()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := make([]*api.KeyHash, len(ks))
	for i, k := range ks {
		out[i] = &api.KeyHash{Key: k.Key, Hash: k.Hash}
	}
	return &api.TreeKeysResponse{Keys: out}, nil
}

func (s *replicaServer) Fetch(ctx context.Context, req *api.FetchRequest) (*api.FetchResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	// 0 means no bound; no answer can pass the message limit anyway.
	maxBytes := int(min(req.GetMaxBytes(), api.MaxMessageSize))
	objs, err := s.n.store.AntiEntropy().FetchUpTo(ctx, int(req.GetPartition()), req.GetKeys(), maxBytes)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &api.FetchResponse{Objects: peer.ObjectsToProto(objs)}, nil
}

func (s *replicaServer) Push(ctx context.Context, req *api.PushRequest) (*api.ApplyResponse, error) {
	if err := s.ownsWith(req.GetPartition(), req.GetFrom(), req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := s.n.store.AntiEntropy().Apply(ctx, int(req.GetPartition()), peer.ObjectsFromProto(req.GetObjects())); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &api.ApplyResponse{}, nil
}

func (s *replicaServer) Reap(_ context.Context, req *api.PushRequest) (*api.ReapResponse, error) {
	if err := s.ownsWith(req.GetPartition(), req.GetFrom(), req.GetEpoch()); err != nil {
		return nil, err
	}
	n, err := s.n.store.Reap(int(req.GetPartition()), peer.ObjectsFromProto(req.GetObjects()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &api.ReapResponse{Reaped: uint64(n)}, nil
}
