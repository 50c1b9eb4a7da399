package node

import (
	"context"
	"errors"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/peer"
)

// kvServer is the public KV service.
type kvServer struct {
	api.UnimplementedKVServer
	n *Node
}

func (s *kvServer) Get(ctx context.Context, req *api.GetRequest) (*api.GetResponse, error) {
	cons, err := peer.ConsistencyFromProto(req.GetConsistency())
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	res, err := s.n.coord.Get(ctx, req.GetKey(), cons)
	if err != nil {
		return nil, peer.ToStatus(s.n.explain(err))
	}
	return &api.GetResponse{
		Found:   res.Found,
		Values:  res.Clock.Live(),
		Context: res.Clock.Context().Token(),
		Info:    peer.InfoToProto(res.Info),
	}, nil
}

func (s *kvServer) Put(ctx context.Context, req *api.PutRequest) (*api.PutResponse, error) {
	return s.write(ctx, req, false)
}

func (s *kvServer) Delete(ctx context.Context, req *api.DeleteRequest) (*api.PutResponse, error) {
	put := &api.PutRequest{Key: req.GetKey(), Context: req.GetContext(), Consistency: req.GetConsistency()}
	return s.write(ctx, put, true)
}

func (s *kvServer) write(ctx context.Context, req *api.PutRequest, tombstone bool) (*api.PutResponse, error) {
	w, err := peer.WriteFromProto(req, tombstone)
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	res, err := s.n.coord.Put(ctx, w)
	if err != nil {
		return nil, peer.ToStatus(s.n.explain(err))
	}
	return peer.WriteResultToProto(res), nil
}

// explain adds to a quorum failure the members still joining, when the
// ring is forming: "ring forming: n2, n3 joining" tells a user to wait
// (`quorumkv ring wait`), where a replica count alone does not.
func (n *Node) explain(err error) error {
	var ue *coordinator.UnavailableError
	if !errors.As(err, &ue) || len(ue.Joining) > 0 {
		return err
	}
	joining := n.members.Doc().Change().Joining
	if len(joining) == 0 {
		return err
	}
	e := *ue
	e.Joining = joining
	return &e
}
