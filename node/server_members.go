package node

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/ring"
)

// Membership changes: plan/commit for waiting nodes, leave, remove, and the
// transfers they cause.

func (s *adminServer) Plan(context.Context, *api.PlanRequest) (*api.PlanResponse, error) {
	resp, _, err := s.planJoins()
	return resp, err
}

func (s *adminServer) Commit(context.Context, *api.PlanRequest) (*api.PlanResponse, error) {
	resp, cands, err := s.planJoins()
	if err != nil {
		return nil, err
	}
	for _, c := range cands {
		if err := s.n.members.Admit(c); err != nil {
			return nil, status.Errorf(codes.Internal, "admitting %s: %v", c.ID, err)
		}
	}
	resp.Applied = true
	return resp, nil
}

// planJoins plans admitting every waiting node.
func (s *adminServer) planJoins() (*api.PlanResponse, []ring.Candidate, error) {
	m := s.n.members
	cands := m.Candidates()
	to := m.Doc().TargetMembers()
	var joins []string
	for _, c := range cands {
		joins = append(joins, c.ID)
		to = append(to, c.ID)
	}
	resp, err := s.plan(to)
	if err != nil {
		return nil, nil, err
	}
	resp.Join = joins
	return resp, cands, nil
}

func (s *adminServer) Leave(_ context.Context, req *api.MemberChangeRequest) (*api.PlanResponse, error) {
	return s.change(req, ring.StateLeaving)
}

func (s *adminServer) Remove(_ context.Context, req *api.MemberChangeRequest) (*api.PlanResponse, error) {
	return s.change(req, ring.StateRemoved)
}

// change plans (and unless dry_run applies) a leave or a remove. Either
// asks for the member to be out of the target ring; the change commits once
// the others hold its partitions (a leaving member transfers them out first, a
// removed one is not waited for).
func (s *adminServer) change(req *api.MemberChangeRequest, state ring.State) (*api.PlanResponse, error) {
	m := s.n.members
	id := req.GetNode()
	doc := m.Doc()
	if id == "" {
		return nil, status.Error(codes.InvalidArgument, "no member named")
	}
	mem, ok := doc.Members[id]
	if !ok || doc.StateOf(id) == ring.StateRemoved {
		return nil, status.Errorf(codes.NotFound, "%q is not a member", id)
	}
	if state == ring.StateRemoved && m.Alive(id) && !req.GetForce() {
		return nil, status.Errorf(codes.FailedPrecondition, "%s is up: use `ring leave --node %s` to hand its data off first, or --force", id, id)
	}
	var to []string
	for _, t := range doc.TargetMembers() {
		if t != id {
			to = append(to, t)
		}
	}
	if len(to) < s.n.cfg.Replicas && !req.GetForce() {
		return nil, status.Errorf(codes.FailedPrecondition,
			"%s would leave %d members for %d replicas (every key under-replicated); repeat with --force to do it anyway",
			verbFor(state, id), len(to), s.n.cfg.Replicas)
	}
	resp, err := s.plan(to)
	if err != nil {
		return nil, err
	}
	if state == ring.StateLeaving {
		resp.Leave = []string{id}
	} else {
		resp.Remove = []string{id}
	}
	if req.GetDryRun() {
		return resp, nil
	}
	// A member that never finished joining has nothing to transfer out.
	if state == ring.StateLeaving && !doc.Ring.Contains(id) {
		state = ring.StateRemoved
	}
	if mem.State == state {
		resp.Applied = true
		return resp, nil
	}
	if err := m.SetState(id, state); err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp.Applied = true
	return resp, nil
}

func verbFor(state ring.State, id string) string {
	if state == ring.StateLeaving {
		return "leaving " + id
	}
	return "removing " + id
}

// plan compares the current ring with a ring of members to, with keys and
// bytes estimated from this node's own partitions.
func (s *adminServer) plan(to []string) (*api.PlanResponse, error) {
	doc, v := s.n.members.Snapshot()
	cur := v.Ring
	p, err := ring.PlanChange(s.n.cfg.cluster(), cur.Members(), doc.RingZones(), to, doc.ZonesFor(to))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	keysPer, bytesPer := s.partitionSize(cur)
	resp := &api.PlanResponse{
		MembersBefore: p.From, MembersAfter: p.To,
		PartitionsMoving: uint32(p.PartitionsMoving), Problems: p.Problems,
	}
	for _, mv := range p.Moves {
		nm := &api.NodeMove{Node: mv.Node, Gain: uint32(mv.Gain), Lose: uint32(mv.Lose),
			EstKeys: uint64(float64(mv.Gain) * keysPer), EstBytes: uint64(float64(mv.Gain) * bytesPer)}
		resp.EstKeys += nm.EstKeys
		resp.EstBytes += nm.EstBytes
		resp.Moves = append(resp.Moves, nm)
	}
	return resp, nil
}

// partitionSize is the mean keys and bytes of the partitions this node
// replicates.
func (s *adminServer) partitionSize(cur *ring.Ring) (keys, bytes float64) {
	held := 0
	for p := range s.n.cfg.Partitions {
		if !cur.IsReplica(p, s.n.cfg.ID) {
			continue
		}
		held++
		keys += float64(s.n.store.PartitionKeys(p))
		b, _ := s.n.store.PartitionBytes(p)
		bytes += float64(b)
	}
	if held == 0 {
		return 0, 0
	}
	return keys / float64(held), bytes / float64(held)
}

func (s *adminServer) Transfers(context.Context, *api.TransfersRequest) (*api.TransfersResponse, error) {
	resp := &api.TransfersResponse{Node: s.n.cfg.ID}
	for _, t := range s.n.Transfers() {
		resp.Transfers = append(resp.Transfers, &api.TransferInfo{
			Partition: uint32(t.Partition), Sources: t.Sources, State: t.State.String(),
			KeysMoved: uint64(t.KeysMoved), Error: t.Error, SinceUnixMs: t.Since.UnixMilli(),
		})
	}
	return resp, nil
}
