package node

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/peer"
)

// kvServer is the public KV service.
type kvServer struct {
	api.UnimplementedKVServer
	n *Node
}

// Get reads a key. An object larger than MaxObjectBytes (concurrent
// writes on different replicas can merge into one) is answered in part:
// the values that fit and a context covering exactly those
// (vclock.Clock.Bounded), so a write with it replaces only what was seen.
func (s *kvServer) Get(ctx context.Context, req *api.GetRequest) (resp *api.GetResponse, err error) {
	defer func(start time.Time) {
		outcome := outcomeOf(err)
		if err == nil && !resp.GetFound() {
			outcome = "not_found"
		}
		s.n.metrics.observe("get", req.GetConsistency(), start, outcome)
	}(time.Now())
	return s.get(ctx, req)
}

func (s *kvServer) get(ctx context.Context, req *api.GetRequest) (*api.GetResponse, error) {
	done, err := s.n.ops.start()
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	defer done()
	cons, err := peer.ConsistencyFromProto(req.GetConsistency())
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	res, err := s.n.coord.Get(ctx, req.GetKey(), cons)
	if err != nil {
		s.n.metrics.noteFailure(err)
		return nil, peer.ToStatus(s.n.explain(err))
	}
	view := res.Clock.Bounded(s.n.cfg.Limits.MaxObjectBytes)
	values := view.Live()
	return &api.GetResponse{
		Found:   res.Found && len(values) > 0,
		Values:  values,
		Context: view.Context().Token(),
		Info:    peer.InfoToProto(res.Info),
	}, nil
}

func (s *kvServer) Put(ctx context.Context, req *api.PutRequest) (resp *api.PutResponse, err error) {
	defer func(start time.Time) { s.n.metrics.observe("put", req.GetConsistency(), start, outcomeOf(err)) }(time.Now())
	return s.write(ctx, req, false)
}

func (s *kvServer) Delete(ctx context.Context, req *api.DeleteRequest) (resp *api.PutResponse, err error) {
	defer func(start time.Time) { s.n.metrics.observe("delete", req.GetConsistency(), start, outcomeOf(err)) }(time.Now())
	put := &api.PutRequest{Key: req.GetKey(), Context: req.GetContext(), Consistency: req.GetConsistency()}
	return s.write(ctx, put, true)
}

// write runs a put or a delete; its answer, the resulting siblings, is
// bounded like a read's.
func (s *kvServer) write(ctx context.Context, req *api.PutRequest, tombstone bool) (*api.PutResponse, error) {
	done, err := s.n.ops.start()
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	defer done()
	w, err := peer.WriteFromProto(req, tombstone, s.n.cfg.Limits.contextLimits())
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	if lease.IsReserved(w.Key) {
		return nil, status.Error(codes.InvalidArgument, "keys starting with byte 0 are the store's own")
	}
	var res coordinator.WriteResult
	if id := lease.ID(req.GetLease()); id != 0 && !tombstone {
		res, err = s.n.putWithLease(ctx, id, w)
	} else {
		res, err = s.n.coord.Put(ctx, w)
	}
	if err != nil {
		s.n.metrics.noteFailure(err)
		return nil, s.n.leaseStatus(err)
	}
	res.Clock = res.Clock.Bounded(s.n.cfg.Limits.MaxObjectBytes)
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
