package node

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// replicaServer is the internal node-to-node service.
type replicaServer struct {
	api.UnimplementedReplicaServer
	n *Node
}

func (s *replicaServer) Hint(_ context.Context, req *api.HintRequest) (*api.ApplyResponse, error) {
	if s.n.hints == nil {
		return nil, status.Error(codes.FailedPrecondition, "hinted handoff is off on this node")
	}
	s.n.transport.Learn(req.GetFrom(), req.GetEpoch())
	if s.n.removedSender(req.GetFrom()) {
		return nil, peer.ToStatus(s.n.notReplica(s.n.members.View()))
	}
	if req.GetTarget() == "" || req.GetTarget() == s.n.cfg.ID {
		return nil, status.Errorf(codes.InvalidArgument, "bad hint target %q", req.GetTarget())
	}
	if late, refuse := s.late(req.GetDeadlineUnixNano()); refuse {
		s.n.log.Warn("refused a hint that arrived after its deadline; anti-entropy will repair",
			"from", req.GetFrom(), "target", req.GetTarget(), "late", late)
		return nil, status.Errorf(codes.DeadlineExceeded, "hint arrived %v after its deadline", late)
	}
	c, err := decodeClock(req.GetClock())
	if err != nil {
		return nil, err
	}
	if max := 4 * s.n.cfg.Limits.MaxContextActors; len(c.Entries) > max {
		return nil, status.Errorf(codes.InvalidArgument, "hinted clock has %d actors (limit %d)", len(c.Entries), max)
	}
	if err := s.n.hintSink.Add(req.GetTarget(), req.GetKey(), c); err != nil {
		if errors.Is(err, replica.ErrDiskFull) {
			return nil, peer.ToStatus(err)
		}
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	}
	return &api.ApplyResponse{}, nil
}

func (s *replicaServer) Coordinate(ctx context.Context, req *api.ForwardRequest) (*api.ForwardResponse, error) {
	s.n.transport.Learn(req.GetFrom(), req.GetEpoch())
	w, err := peer.WriteFromProto(req.GetPut(), req.GetTombstone(), s.n.cfg.Limits.contextLimits())
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	res, err := s.n.coord.CoordinateForwarded(ctx, w)
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	return &api.ForwardResponse{Response: peer.WriteResultToProto(res), Clock: res.Clock.Marshal()}, nil
}

func decodeClock(b []byte) (vclock.Clock, error) {
	c, err := vclock.Unmarshal(b)
	if err != nil {
		return c, status.Errorf(codes.InvalidArgument, "corrupt object: %v", err)
	}
	return c, nil
}
