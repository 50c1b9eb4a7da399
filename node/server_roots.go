package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

// maxRootsPerCall bounds one TreeRoots call (every partition of the
// largest cluster fits).
const maxRootsPerCall = 1 << 16

// TreeRoots answers the roots of many partitions in one call; a partition
// this node neither replicates nor gains is flagged, its root meaningless.
func (s *replicaServer) TreeRoots(_ context.Context, req *api.TreeRootsRequest) (*api.TreeRootsResponse, error) {
	parts := req.GetPartitions()
	if len(parts) > maxRootsPerCall {
		return nil, status.Errorf(codes.InvalidArgument, "%d partitions in one call, the limit is %d", len(parts), maxRootsPerCall)
	}
	for _, p := range parts {
		if err := s.checkPartition(p); err != nil {
			return nil, err
		}
	}
	v := s.n.members.View()
	resp := &api.TreeRootsResponse{Roots: make([]uint64, len(parts)), NotReplica: make([]bool, len(parts)),
		Held: make([]bool, len(parts)), Epoch: v.Epoch}
	for i, p := range parts {
		if !s.n.takesWrites(v, int(p)) {
			resp.NotReplica[i] = true
			continue
		}
		resp.Roots[i] = s.n.store.Trees().Root(int(p))
		resp.Held[i] = s.n.own.isOwned(int(p))
	}
	return resp, nil
}
