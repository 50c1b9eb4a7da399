package node

import (
	"context"

	"github.com/quorumkv/quorumkv/api"
)

// kvServer is the public KV service.
type kvServer struct {
	api.UnimplementedKVServer
	n *Node
}

func (s *kvServer) Get(ctx context.Context, req *api.GetRequest) (*api.GetResponse, error) {
	cons, err := consistencyFromProto(req.GetConsistency())
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.n.coord.Get(ctx, req.GetKey(), cons)
	if err != nil {
		return nil, toStatus(err)
	}
	return &api.GetResponse{
		Found:   res.Found,
		Values:  res.Clock.Live(),
		Context: res.Clock.Context().Token(),
		Info:    infoToProto(res.Info),
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
	w, err := writeFromProto(req, tombstone)
	if err != nil {
		return nil, toStatus(err)
	}
	res, err := s.n.coord.Put(ctx, w)
	if err != nil {
		return nil, toStatus(err)
	}
	return writeResultToProto(res), nil
}
