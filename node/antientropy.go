package node

import (
	"context"
	"slices"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/api"
)

// grpcPeer is another node's replica as an anti-entropy exchange peer.
type grpcPeer struct {
	t    *grpcTransport
	node string
}

var _ antientropy.Peer = grpcPeer{}

func (g grpcPeer) client() (api.ReplicaClient, error) { return g.t.client(g.node) }

func (g grpcPeer) epoch() uint64 {
	e, _ := g.t.view()
	return e
}

func (g grpcPeer) Root(ctx context.Context, p int) (uint64, error) {
	rc, err := g.client()
	if err != nil {
		return 0, err
	}
	resp, err := rc.TreeRoot(ctx, &api.TreeRequest{Partition: uint32(p), Epoch: g.epoch()})
	return resp.GetRoot(), g.t.fromStatus(g.node, err)
}

func (g grpcPeer) Branches(ctx context.Context, p int) ([antientropy.Branches]uint64, error) {
	var out [antientropy.Branches]uint64
	rc, err := g.client()
	if err != nil {
		return out, err
	}
	resp, err := rc.TreeBranches(ctx, &api.TreeRequest{Partition: uint32(p), Epoch: g.epoch()})
	if err != nil {
		return out, g.t.fromStatus(g.node, err)
	}
	if len(resp.GetHashes()) != antientropy.Branches {
		return out, status.Errorf(codes.Internal, "peer %s sent %d branch hashes", g.node, len(resp.GetHashes()))
	}
	copy(out[:], resp.GetHashes())
	return out, nil
}

func (g grpcPeer) Segments(ctx context.Context, p int, branches []int) ([][antientropy.SegmentsPerBranch]uint64, error) {
	rc, err := g.client()
	if err != nil {
		return nil, err
	}
	resp, err := rc.TreeSegments(ctx, &api.TreeSegmentsRequest{Partition: uint32(p), Branches: toU32(branches), Epoch: g.epoch()})
	if err != nil {
		return nil, g.t.fromStatus(g.node, err)
	}
	hs := resp.GetHashes()
	if len(hs) != len(branches)*antientropy.SegmentsPerBranch {
		return nil, status.Errorf(codes.Internal, "peer %s sent %d segment hashes for %d branches", g.node, len(hs), len(branches))
	}
	out := make([][antientropy.SegmentsPerBranch]uint64, len(branches))
	for i := range out {
		copy(out[i][:], hs[i*antientropy.SegmentsPerBranch:])
	}
	return out, nil
}

func (g grpcPeer) Keys(ctx context.Context, p int, segments []int) ([]antientropy.KeyHash, error) {
	rc, err := g.client()
	if err != nil {
		return nil, err
	}
	resp, err := rc.TreeKeys(ctx, &api.TreeKeysRequest{Partition: uint32(p), Segments: toU32(segments), Epoch: g.epoch()})
	if err != nil {
		return nil, g.t.fromStatus(g.node, err)
	}
	out := make([]antientropy.KeyHash, len(resp.GetKeys()))
	for i, k := range resp.GetKeys() {
		out[i] = antientropy.KeyHash{Key: k.GetKey(), Hash: k.GetHash()}
	}
	return out, nil
}

// Fetch asks for the states of the first keys that fit api.BatchBytes (at
// least one), so that keys of many large siblings never make an answer
// larger than the message limit; the exchange asks again for the rest.
func (g grpcPeer) Fetch(ctx context.Context, p int, keys [][]byte) ([]antientropy.Object, error) {
	rc, err := g.client()
	if err != nil {
		return nil, err
	}
	resp, err := rc.Fetch(ctx, &api.FetchRequest{Partition: uint32(p), Keys: keys, Epoch: g.epoch(), MaxBytes: api.BatchBytes})
	if err != nil {
		return nil, g.t.fromStatus(g.node, err)
	}
	return objectsFromProto(resp.GetObjects()), nil
}

func (g grpcPeer) Push(ctx context.Context, p int, objs []antientropy.Object) error {
	rc, err := g.client()
	if err != nil {
		return err
	}
	_, err = rc.Push(ctx, &api.PushRequest{Partition: uint32(p), Objects: objectsToProto(objs), From: g.t.self, Epoch: g.epoch()})
	return g.t.fromStatus(g.node, err)
}

// Reap asks the peer to delete keys whose state is exactly these tombstones.
func (g grpcPeer) Reap(ctx context.Context, p int, objs []antientropy.Object) (int, error) {
	rc, err := g.client()
	if err != nil {
		return 0, err
	}
	resp, err := rc.Reap(ctx, &api.PushRequest{Partition: uint32(p), Objects: objectsToProto(objs), From: g.t.self, Epoch: g.epoch()})
	return int(resp.GetReaped()), g.t.fromStatus(g.node, err)
}

func toU32(xs []int) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = uint32(x)
	}
	return out
}

func toInts(xs []uint32) []int {
	out := make([]int, len(xs))
	for i, x := range xs {
		out[i] = int(x)
	}
	return out
}

func objectsToProto(objs []antientropy.Object) []*api.Object {
	out := make([]*api.Object, len(objs))
	for i, o := range objs {
		out[i] = &api.Object{Key: o.Key, Clock: o.Clock}
	}
	return out
}

func objectsFromProto(objs []*api.Object) []antientropy.Object {
	out := make([]antientropy.Object, len(objs))
	for i, o := range objs {
		out[i] = antientropy.Object{Key: o.GetKey(), Clock: o.GetClock()}
		if len(out[i].Clock) == 0 {
			out[i].Clock = nil
		}
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
		return toStatus(s.n.notReplica(v))
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
	s.n.transport.learn(from, epoch)
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
	return &api.TreeRootResponse{Root: root}, toStatus(err)
}

func (s *replicaServer) TreeBranches(ctx context.Context, req *api.TreeRequest) (*api.TreeHashesResponse, error) {
	if err := s.owns(req.GetPartition()); err != nil {
		return nil, err
	}
	bs, err := s.n.store.AntiEntropy().Branches(ctx, int(req.GetPartition()))
	return &api.TreeHashesResponse{Hashes: bs[:]}, toStatus(err)
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
	return &api.FetchResponse{Objects: objectsToProto(objs)}, nil
}

func (s *replicaServer) Push(ctx context.Context, req *api.PushRequest) (*api.ApplyResponse, error) {
	if err := s.ownsWith(req.GetPartition(), req.GetFrom(), req.GetEpoch()); err != nil {
		return nil, err
	}
	if err := s.n.store.AntiEntropy().Apply(ctx, int(req.GetPartition()), objectsFromProto(req.GetObjects())); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &api.ApplyResponse{}, nil
}

func (s *replicaServer) Reap(_ context.Context, req *api.PushRequest) (*api.ReapResponse, error) {
	if err := s.ownsWith(req.GetPartition(), req.GetFrom(), req.GetEpoch()); err != nil {
		return nil, err
	}
	n, err := s.n.store.Reap(int(req.GetPartition()), objectsFromProto(req.GetObjects()))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return &api.ReapResponse{Reaped: uint64(n)}, nil
}
