package node

import (
	"context"
	"maps"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/serial"
)

// adminServer answers `quorumkv ring …`.
type adminServer struct {
	api.UnimplementedAdminServer
	n *Node
}

func (s *adminServer) RingStatus(context.Context, *api.RingStatusRequest) (*api.RingStatusResponse, error) {
	resp := s.n.ringStatus()
	return resp, nil
}

// ringStatus is the answer to Admin.RingStatus, with the member document
// it was read from.
func (n *Node) ringStatus() *api.RingStatusResponse {
	m := n.members
	doc, v := m.Snapshot()
	r := v.Ring
	resp := &api.RingStatusResponse{
		Node:       n.cfg.ID,
		Partitions: uint32(n.cfg.Partitions),
		Replicas:   uint32(n.cfg.Replicas),
		Epoch:      doc.Epoch(),
	}
	for _, id := range sortedIDs(doc) {
		mem, st := doc.Members[id], doc.StateOf(id)
		if st == ring.StateRemoved {
			continue // gone: never listed as a ghost
		}
		resp.Members = append(resp.Members, &api.MemberStatus{
			Id:         id,
			Address:    mem.Addr,
			Up:         m.Alive(id),
			State:      st.String(),
			Partitions: uint32(r.PrimaryCount(id)),
			Owned:      uint32(r.OwnedCount(id)),
			Zone:       zoneOf(doc, r, id),
		})
	}
	return resp
}

// zoneOf is member id's zone: the one ring r places it by when it is a
// member of r, else the one its entry announces.
func zoneOf(doc ring.Doc, r *ring.Ring, id string) string {
	if r.Contains(id) {
		return r.Zone(id)
	}
	return doc.Members[id].Zone
}

func (s *adminServer) Endpoints(_ context.Context, req *api.EndpointsRequest) (*api.EndpointsResponse, error) {
	if len(req.GetKey()) == 0 {
		return nil, status.Error(codes.InvalidArgument, "key is empty")
	}
	m := s.n.members
	r := m.Ring()
	p := r.Partition(req.GetKey())
	resp := &api.EndpointsResponse{Partition: uint32(p)}
	for _, id := range r.Preference(p) {
		addr, _ := m.Addr(id)
		resp.Replicas = append(resp.Replicas, id)
		resp.Addresses = append(resp.Addresses, addr)
		resp.Zones = append(resp.Zones, r.Zone(id))
	}
	return resp, nil
}

func (s *adminServer) Hints(context.Context, *api.HintsRequest) (*api.HintsResponse, error) {
	resp := &api.HintsResponse{Node: s.n.cfg.ID, Enabled: s.n.hints != nil}
	if s.n.hints == nil {
		return resp, nil
	}
	now := s.n.cfg.Clock.Now()
	for _, st := range s.n.hints.Stats() {
		age := time.Duration(0)
		if st.Pending > 0 {
			age = now.Sub(st.Oldest)
		}
		resp.Pending += uint64(st.Pending)
		resp.Targets = append(resp.Targets, &api.HintTarget{
			Target: st.Target, Pending: uint64(st.Pending), Bytes: uint64(st.Bytes),
			OldestAgeMs: uint64(age.Milliseconds()), Dropped: st.Dropped,
		})
	}
	return resp, nil
}

func (s *adminServer) Repair(ctx context.Context, req *api.RepairRequest) (*api.RepairResponse, error) {
	only := -1
	if req.GetHasPartition() {
		if int(req.GetPartition()) >= s.n.cfg.Partitions {
			return nil, status.Errorf(codes.InvalidArgument, "partition %d out of range [0, %d)", req.GetPartition(), s.n.cfg.Partitions)
		}
		only = int(req.GetPartition())
	}
	res, err := s.n.ae.Round(ctx, only)
	if err != nil {
		return nil, peer.ToStatus(err)
	}
	return &api.RepairResponse{
		Node: s.n.cfg.ID, PartitionsCompared: uint64(res.PartitionsCompared),
		KeysRepaired: uint64(res.KeysRepaired), Errors: uint64(res.Errors), Truncated: res.Truncated,
	}, nil
}

func (s *adminServer) NodeStatus(context.Context, *api.NodeStatusRequest) (*api.NodeStatusResponse, error) {
	st := s.n.ae.Stats()
	resp := &api.NodeStatusResponse{
		Node: s.n.cfg.ID, HintsEnabled: s.n.hints != nil,
		Exchanges: st.Exchanges, KeysRepaired: st.KeysRepaired, TombstonesReaped: st.TombstonesReaped,
		RepairingPartitions: uint32(s.n.RepairingPartitions()),
		Serial:              serialStatsToProto(s.n.proposer.Stats()),
		Leases:              leaseStatsToProto(s.n.leases.statsNow()),
	}
	if !st.LastExchange.IsZero() {
		resp.LastExchangeUnixMs = st.LastExchange.UnixMilli()
	}
	if s.n.hints != nil {
		resp.HintsPending = uint64(s.n.hints.Pending())
	}
	if st := s.n.store.DiskFull(); st != nil {
		resp.DiskFull, resp.DiskFullReason = true, st.Error()
	}
	return resp, nil
}

func sortedIDs(doc ring.Doc) []string {
	return slices.Sorted(maps.Keys(doc.Members))
}

func serialStatsToProto(st serial.Stats) *api.SerialStats {
	return &api.SerialStats{
		Rounds: st.Rounds, FastRounds: st.FastRounds, ChosenRounds: st.ChosenRounds, Retries: st.Retries,
		Ops: st.Ops, BatchedOps: st.BatchedOps, Unknown: st.Unknown, Contended: st.Contended,
		Unavailable: st.Unavailable, Breaches: st.Breaches, ReadsAtPrepare: st.ReadsAtPrepare,
	}
}

func leaseStatsToProto(st leaseStats) *api.LeaseStats {
	return &api.LeaseStats{
		Held: st.held, Renewals: st.renewals, Expired: st.expired, Revoked: st.revoked,
		Frozen: st.frozen, FrozenSweeps: st.frozenSweeps, Capped: st.capped, Overdue: st.overdue,
	}
}

func (s *adminServer) GossipKey(_ context.Context, req *api.GossipKeyRequest) (*api.GossipKeyResponse, error) {
	op := GossipKeyOp(req.GetOp())
	if op != GossipKeyList && op != GossipKeyInstall && op != GossipKeyUse && op != GossipKeyRemove {
		return nil, status.Errorf(codes.InvalidArgument, "unknown gossip key operation %q (want install, use, remove or list)", req.GetOp())
	}
	if n := len(req.GetKey()); op != GossipKeyList && n != 16 && n != 24 && n != 32 {
		return nil, status.Errorf(codes.InvalidArgument, "gossip key of %d bytes, want 16, 24 or 32", n)
	}
	keys, err := s.n.GossipKey(op, req.GetKey())
	if err != nil {
		// No keyring, a key not installed, the key in use removed.
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return &api.GossipKeyResponse{Node: s.n.cfg.ID, Keys: keys}, nil
}
