package node

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
)

// paxosServer is the acceptor edge: the Paxos service every node serves to
// the proposers of the others (and its own, without the network). Each item
// is checked against this node's view of the ring before the store's
// acceptor step runs:
//   - from a sender this node counts as removed, or for a partition this
//     node is not an acceptor of (neither a replica in the committed ring
//     nor in the target): NOT_REPLICA;
//   - for a partition it does not hold completely (being pulled, or
//     repairing after lost data: its registers may be short): NOT_READY;
//   - of an older epoch, or of the same epoch with another move of the
//     partition than this node sees: STALE_EPOCH (the sender fetches the
//     newer document and retries). Only rounds whose acceptors agree on the
//     configuration can succeed, so once a majority of the old replicas know
//     of a move, no round that ignores it can be chosen.
type paxosServer struct {
	api.UnimplementedPaxosServer
	n *Node
}

// Prepare answers a batch of prepares.
func (s *paxosServer) Prepare(ctx context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error) {
	return s.n.paxosBatch(b, false), nil
}

// Accept answers a batch of accepts.
func (s *paxosServer) Accept(ctx context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error) {
	return s.n.paxosBatch(b, true), nil
}

// paxosBatch runs a batch's items concurrently (their synced writes share
// commits) and answers them in order.
func (n *Node) paxosBatch(b *api.PaxosBatch, accept bool) *api.PaxosReplies {
	v := n.members.View()
	out := &api.PaxosReplies{Replies: make([]*api.PaxosReply, len(b.GetItems()))}
	if len(b.GetItems()) == 1 {
		out.Replies[0] = n.paxosItem(v, b.GetFrom(), b.GetItems()[0], accept)
		return out
	}
	var wg sync.WaitGroup
	for i, it := range b.GetItems() {
		wg.Add(1)
		n.work.Run(func() {
			defer wg.Done()
			out.Replies[i] = n.paxosItem(v, b.GetFrom(), it, accept)
		})
	}
	wg.Wait()
	return out
}

func (n *Node) paxosItem(v *ring.View, from string, it *api.PaxosItem, accept bool) *api.PaxosReply {
	p := int(it.GetPartition())
	if refused := n.paxosRefusal(v, from, p, it); refused != nil {
		return refused
	}
	k := replica.RegisterKey{Partition: p, Kind: byte(it.GetKind()), Key: it.GetKey()}
	b := peer.BallotFromPB(it.GetBallot())
	if !accept {
		r, err := n.store.Prepare(k, it.GetEpoch(), b)
		if err != nil {
			return paxosFailure(err, v)
		}
		if !r.OK {
			return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_REFUSED, Seen: peer.BallotToPB(r.Seen)}
		}
		return &api.PaxosReply{Accepted: peer.BallotToPB(r.Accepted), State: paxos.EncodeState(r.State)}
	}
	st, err := paxos.DecodeState(it.GetState())
	if err != nil {
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_BAD}
	}
	r, err := n.store.Accept(k, it.GetEpoch(), b, st, peer.BallotFromPB(it.GetPromise()))
	if err != nil {
		return paxosFailure(err, v)
	}
	if !r.OK {
		if r.Breach {
			n.log.Error("register invariant broken: an accept at a ballot this acceptor holds with another state",
				"partition", p, "ballot", b.String(), "from", from)
		}
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_REFUSED, Seen: peer.BallotToPB(r.Seen), Breach: r.Breach}
	}
	return &api.PaxosReply{}
}

// paxosRefusal is the reply refusing an item before the store sees it, or
// nil.
func (n *Node) paxosRefusal(v *ring.View, from string, p int, it *api.PaxosItem) *api.PaxosReply {
	switch {
	case p >= n.cfg.Partitions || len(it.GetKey()) == 0 || it.GetBallot().GetCounter() == 0:
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_BAD}
	case n.removedSender(from) || !(v.Ring.IsReplica(p, n.cfg.ID) || v.Target.IsReplica(p, n.cfg.ID)):
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_NOT_REPLICA, Epoch: v.Epoch}
	case it.GetEpoch() < v.Epoch:
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_STALE_EPOCH, Epoch: v.Epoch}
	case it.GetEpoch() == v.Epoch && it.GetMoving() != movingIn(v, p):
		n.members.SyncWith(from) // either side may be behind
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_STALE_EPOCH, Epoch: v.Epoch}
	case !n.own.isOwned(p) || n.own.isRepairing(p):
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_NOT_READY, Epoch: v.Epoch}
	}
	if it.GetEpoch() > v.Epoch && from != "" {
		n.transport.Learn(from, it.GetEpoch())
	}
	return nil
}

func paxosFailure(err error, v *ring.View) *api.PaxosReply {
	var stale *replica.StaleEpochError
	switch {
	case errors.As(err, &stale):
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_STALE_EPOCH, Epoch: max(stale.Epoch, v.Epoch)}
	case errors.Is(err, replica.ErrDiskFull):
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_DISK_FULL}
	case errors.Is(err, replica.ErrRegisterTooLarge):
		return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_BAD}
	}
	return &api.PaxosReply{Status: api.PaxosStatus_PAXOS_FAILED}
}

// movingIn names where partition p moves in view v: its replicas in the
// target ring when they differ from the committed ring's, "" otherwise.
func movingIn(v *ring.View, p int) string {
	if !v.Changing() {
		return ""
	}
	nw := v.Target.Preference(p)
	if slices.Equal(nw, v.Ring.Preference(p)) {
		return ""
	}
	return strings.Join(nw, ",")
}

// movingOf names a register quorum's move ("" when it is not joint), as
// movingIn does.
func movingOf(q paxos.Quorum) string {
	if !q.Joint() {
		return ""
	}
	return strings.Join(q.New, ",")
}

// scanPageBytes bounds the registers one Scan answer carries.
const scanPageBytes = 1 << 20

// Scan answers the registers of the partitions asked for, with each
// partition's floor and this node's view of its configuration. A
// partition this node is not a current replica of, or is still pulling as
// one, is answered as not held.
func (s *paxosServer) Scan(ctx context.Context, req *api.PaxosScanRequest) (*api.PaxosScanResponse, error) {
	n := s.n
	v := n.members.View()
	out := &api.PaxosScanResponse{}
	size := 0
	for _, p32 := range req.GetPartitions() {
		p := int(p32)
		if p >= n.cfg.Partitions || (req.GetAfterKey() != nil && p32 < req.GetAfterPartition()) {
			continue
		}
		ps := &api.PaxosPartitionScan{Partition: p32, Epoch: v.Epoch, Moving: movingIn(v, p)}
		out.Partitions = append(out.Partitions, ps)
		if n.removedSender(req.GetFrom()) || !v.Ring.IsReplica(p, n.cfg.ID) {
			continue
		}
		empty, err := n.registersEmpty(p)
		if err != nil {
			return nil, peer.ToStatus(err)
		}
		ps.Empty = empty
		// A replica repairing the partition after lost data is a source
		// too, as for the data: two nodes refilling at once copy from each
		// other (and the rest) instead of waiting for each other forever;
		// it takes no Paxos message until it is repaired.
		if !n.own.isOwned(p) && !n.own.isRepairing(p) {
			continue
		}
		ps.Held = true
		floor, err := n.store.PaxosFloor(p)
		if err != nil {
			return nil, peer.ToStatus(err)
		}
		ps.Floor = peer.BallotToPB(floor)
		after := []byte(nil)
		if p32 == req.GetAfterPartition() {
			after = req.GetAfterKey()
		}
		err = n.store.ScanRegisters(p, func(k replica.RegisterKey, rec paxos.Record) error {
			name := append([]byte{k.Kind}, k.Key...)
			if after != nil && string(name) <= string(after) {
				return nil
			}
			if size >= scanPageBytes {
				out.More, out.AfterPartition = true, p32
				return errPageFull
			}
			st := paxos.EncodeState(rec.State)
			size += len(st) + len(name)
			ps.Records = append(ps.Records, &api.PaxosRecord{Kind: uint32(k.Kind), Key: k.Key,
				Promise: peer.BallotToPB(rec.Promise), Accepted: peer.BallotToPB(rec.Accepted), State: st})
			out.AfterKey = name
			return nil
		})
		if errors.Is(err, errPageFull) {
			return out, nil
		}
		if err != nil {
			return nil, peer.ToStatus(err)
		}
	}
	return out, nil
}

var errPageFull = errors.New("page full")

// RaiseFloor runs collection's last step on this replica.
func (s *paxosServer) RaiseFloor(ctx context.Context, req *api.PaxosFloorRequest) (*api.PaxosFloorResponse, error) {
	n := s.n
	p := int(req.GetPartition())
	v := n.members.View()
	if p >= n.cfg.Partitions || n.removedSender(req.GetFrom()) || !v.Ring.IsReplica(p, n.cfg.ID) {
		return nil, peer.ToStatus(n.notReplica(v))
	}
	remove := map[string]paxos.Ballot{}
	for _, r := range req.GetRemove() {
		remove[string(append([]byte{byte(r.GetKind())}, r.GetKey()...))] = peer.BallotFromPB(r.GetAccepted())
	}
	if err := n.store.RaiseFloorAndRemove(p, peer.BallotFromPB(req.GetFloor()), remove); err != nil {
		return nil, peer.ToStatus(err)
	}
	return &api.PaxosFloorResponse{}, nil
}

// registersEmpty reports that this node holds no register of p and no
// floor for it.
func (n *Node) registersEmpty(p int) (bool, error) {
	floor, err := n.store.PaxosFloor(p)
	if err != nil || !floor.IsZero() {
		return false, err
	}
	any := false
	err = n.store.ScanRegisters(p, func(replica.RegisterKey, paxos.Record) error {
		any = true
		return errPageFull
	})
	if errors.Is(err, errPageFull) {
		err = nil
	}
	return !any, err
}
