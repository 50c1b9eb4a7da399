package peer

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/api"
)

// Exchange is another node's replica as an anti-entropy exchange peer
// (and a transfer's source: Roots).
type Exchange struct {
	t    *Transport
	node string
}

var _ antientropy.Peer = Exchange{}

// Exchange is node's replica as an exchange peer.
func (t *Transport) Exchange(node string) Exchange { return Exchange{t: t, node: node} }

func (g Exchange) client() (api.ReplicaClient, error) { return g.t.client(g.node) }

func (g Exchange) epoch() uint64 {
	e, _ := g.t.view()
	return e
}

func (g Exchange) Root(ctx context.Context, p int) (uint64, error) {
	rc, err := g.client()
	if err != nil {
		return 0, err
	}
	resp, err := rc.TreeRoot(ctx, &api.TreeRequest{Partition: uint32(p), Epoch: g.epoch()})
	return resp.GetRoot(), g.t.fromStatus(g.node, err)
}

func (g Exchange) Branches(ctx context.Context, p int) ([antientropy.Branches]uint64, error) {
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

func (g Exchange) Segments(ctx context.Context, p int, branches []int) ([][antientropy.SegmentsPerBranch]uint64, error) {
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

func (g Exchange) Keys(ctx context.Context, p int, segments []int) ([]antientropy.KeyHash, error) {
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
func (g Exchange) Fetch(ctx context.Context, p int, keys [][]byte) ([]antientropy.Object, error) {
	rc, err := g.client()
	if err != nil {
		return nil, err
	}
	resp, err := rc.Fetch(ctx, &api.FetchRequest{Partition: uint32(p), Keys: keys, Epoch: g.epoch(), MaxBytes: api.BatchBytes})
	if err != nil {
		return nil, g.t.fromStatus(g.node, err)
	}
	return ObjectsFromProto(resp.GetObjects()), nil
}

func (g Exchange) Push(ctx context.Context, p int, objs []antientropy.Object) error {
	rc, err := g.client()
	if err != nil {
		return err
	}
	_, err = rc.Push(ctx, &api.PushRequest{Partition: uint32(p), Objects: ObjectsToProto(objs), From: g.t.self, Epoch: g.epoch()})
	return g.t.fromStatus(g.node, err)
}

// Reap asks the peer to delete keys whose state is exactly these tombstones.
func (g Exchange) Reap(ctx context.Context, p int, objs []antientropy.Object) (int, error) {
	rc, err := g.client()
	if err != nil {
		return 0, err
	}
	resp, err := rc.Reap(ctx, &api.PushRequest{Partition: uint32(p), Objects: ObjectsToProto(objs), From: g.t.self, Epoch: g.epoch()})
	return int(resp.GetReaped()), g.t.fromStatus(g.node, err)
}

// PartitionRoot is a peer's answer about one partition: its Merkle root,
// whether the peer neither replicates nor gains it (the root then means
// nothing), and whether it holds it completely.
type PartitionRoot struct {
	Root       uint64
	NotReplica bool
	Held       bool
}

// Roots asks the peer for the roots of parts in one call.
func (g Exchange) Roots(ctx context.Context, parts []int) ([]PartitionRoot, error) {
	rc, err := g.client()
	if err != nil {
		return nil, err
	}
	epoch, _ := g.t.view()
	resp, err := rc.TreeRoots(ctx, &api.TreeRootsRequest{Partitions: toU32(parts), Epoch: epoch})
	if err != nil {
		return nil, g.t.fromStatus(g.node, err)
	}
	g.t.Learn(g.node, resp.GetEpoch())
	n := len(parts)
	if len(resp.GetRoots()) != n || len(resp.GetNotReplica()) != n || len(resp.GetHeld()) != n {
		return nil, status.Errorf(codes.Internal, "peer %s answered %d roots for %d partitions", g.node, len(resp.GetRoots()), n)
	}
	out := make([]PartitionRoot, n)
	for i := range out {
		out[i] = PartitionRoot{Root: resp.GetRoots()[i], NotReplica: resp.GetNotReplica()[i], Held: resp.GetHeld()[i]}
	}
	return out, nil
}

func toU32(xs []int) []uint32 {
	out := make([]uint32, len(xs))
	for i, x := range xs {
		out[i] = uint32(x)
	}
	return out
}

// ObjectsToProto is objs as the wire carries them.
func ObjectsToProto(objs []antientropy.Object) []*api.Object {
	out := make([]*api.Object, len(objs))
	for i, o := range objs {
		out[i] = &api.Object{Key: o.Key, Clock: o.Clock}
	}
	return out
}

// ObjectsFromProto is objs as the exchange takes them (an empty clock is
// nil).
func ObjectsFromProto(objs []*api.Object) []antientropy.Object {
	out := make([]antientropy.Object, len(objs))
	for i, o := range objs {
		out[i] = antientropy.Object{Key: o.GetKey(), Clock: o.GetClock()}
		if len(out[i].Clock) == 0 {
			out[i].Clock = nil
		}
	}
	return out
}
