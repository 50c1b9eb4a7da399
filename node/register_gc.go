package node

import (
	"context"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/serial"
)

// Collection of deleted registers. A delete leaves a tombstone accepted by
// a majority; removing it is safe only once no delayed or cached accept
// from before can bring the value back. Every RegisterGCInterval the
// lowest-id replica of each partition it holds, while the partition does
// not move and all its replicas are up, runs for each tombstone an
// identity round that every replica must accept (so every replica holds
// the tombstone at a ballot bG), then on every replica raises the
// partition's ballot floor to the largest bG (and past the promise of every
// record it removes) and removes the records still equal to their
// tombstone. Acceptors refuse every ballot at or below the floor, so an
// accept from before the delete is refused; a write that raced the
// collection was either chosen first (then the identity round carried it,
// and the record is no tombstone and is kept) or is refused and retried
// above the floor. A collected register starts again at version 0.

// registerGCRoundTimeout bounds one identity round of collection.
const registerGCRoundTimeout = 2 * time.Second

// runRegisterGC collects deleted registers every interval until ctx ends.
func (n *Node) runRegisterGC(ctx context.Context) {
	t := time.NewTicker(n.cfg.RegisterGCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.CollectRegisters(ctx)
	}
}

// CollectRegisters runs one pass of collection over the partitions this
// node collects for, and returns how many registers it removed here.
func (n *Node) CollectRegisters(ctx context.Context) int {
	v := n.members.View()
	if v.Changing() {
		return 0
	}
	removed := 0
	for p := range n.cfg.Partitions {
		prefs := v.Ring.Preference(p)
		if len(prefs) == 0 || minID(prefs) != n.cfg.ID || !n.own.isOwned(p) || n.own.isRepairing(p) || !n.allAlive(prefs) {
			continue
		}
		removed += n.collectPartition(ctx, p, v.Epoch, prefs)
	}
	return removed
}

func minID(ids []string) string {
	m := ids[0]
	for _, id := range ids[1:] {
		m = min(m, id)
	}
	return m
}

func (n *Node) allAlive(ids []string) bool {
	for _, id := range ids {
		if id != n.cfg.ID && !n.members.Alive(id) {
			return false
		}
	}
	return true
}

// collectPartition collects the tombstones of partition p.
func (n *Node) collectPartition(ctx context.Context, p int, epoch uint64, prefs []string) int {
	var tombs []replica.RegisterKey
	err := n.store.ScanRegisters(p, func(k replica.RegisterKey, rec paxos.Record) error {
		if k.Kind == serial.KindSerial && !rec.Accepted.IsZero() && !rec.State.Exists {
			tombs = append(tombs, k)
		}
		return nil
	})
	if err != nil || len(tombs) == 0 {
		return 0
	}
	gen := paxos.NewBallotGen(n.cfg.ID + "/gc")
	floor := paxos.Ballot{}
	req := &api.PaxosFloorRequest{From: n.cfg.ID, Partition: uint32(p)}
	for _, k := range tombs {
		b, st, ok := n.identityAtAll(ctx, gen, k, epoch, prefs)
		if !ok || st.Exists {
			continue
		}
		floor = maxBallotOf(floor, b)
		req.Remove = append(req.Remove, &api.PaxosRecord{Kind: uint32(k.Kind), Key: k.Key, Accepted: peer.BallotToPB(b)})
	}
	if len(req.Remove) == 0 {
		return 0
	}
	req.Floor = peer.BallotToPB(floor)
	for _, id := range prefs {
		if id == n.cfg.ID {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, registerGCRoundTimeout)
		err := n.transport.RaiseFloor(rctx, id, req)
		cancel()
		if err != nil {
			n.log.Debug("register collection: a replica did not raise its floor; retried next pass", "partition", p, "replica", id, "err", err)
			return 0
		}
	}
	remove := map[string]paxos.Ballot{}
	for _, r := range req.Remove {
		remove[string(append([]byte{byte(r.GetKind())}, r.GetKey()...))] = peer.BallotFromPB(r.GetAccepted())
	}
	before := n.store.PartitionKeys(p)
	if err := n.store.RaiseFloorAndRemove(p, floor, remove); err != nil {
		return 0
	}
	n.proposer.DropCache()
	return int(before - n.store.PartitionKeys(p))
}

// identityAtAll runs one identity round on k that every replica in prefs
// must promise and accept; it returns the ballot and the state accepted.
func (n *Node) identityAtAll(ctx context.Context, gen *paxos.BallotGen, k replica.RegisterKey, epoch uint64, prefs []string) (paxos.Ballot, paxos.State, bool) {
	ctx, cancel := context.WithTimeout(ctx, registerGCRoundTimeout)
	defer cancel()
	floor, _ := n.store.PaxosFloor(k.Partition)
	prop, msg := paxos.Start(paxos.Round{Key: string(k.Key), Quorum: paxos.Quorum{Old: prefs, All: true}, Floor: floor, Ops: []paxos.Op{{Kind: paxos.OpGet}}},
		gen, uint64(max(time.Now().UnixMicro(), 0)), paxos.NewCache(1))
	t := serial.Target{Partition: k.Partition, Kind: k.Kind, Key: k.Key, Epoch: epoch}
	type answer struct {
		from string
		pr   paxos.PrepareReply
		ar   paxos.AcceptReply
		err  error
	}
	replies := make(chan answer, 2*len(prefs))
	send := func(m paxos.Message) {
		for _, id := range prefs {
			if m.Accept {
				n.acceptors.Accept(ctx, id, t, m.Ballot, m.State, paxos.Ballot{}, func(r paxos.AcceptReply, err error) { replies <- answer{from: id, ar: r, err: err} })
			} else {
				n.acceptors.Prepare(ctx, id, t, m.Ballot, func(r paxos.PrepareReply, err error) { replies <- answer{from: id, pr: r, err: err} })
			}
		}
	}
	send(msg)
	for !prop.Done() {
		select {
		case a := <-replies:
			switch {
			case a.err != nil:
				if next, ok := prop.OnFail(a.from); ok {
					send(next)
				}
			case prop.Phase() == paxos.Preparing:
				if next, ok := prop.OnPrepare(a.from, a.pr); ok {
					send(next)
				}
			default:
				prop.OnAccept(a.from, a.ar)
			}
		case <-ctx.Done():
			prop.Expire()
		}
	}
	return prop.Ballot(), prop.State(), prop.Phase() == paxos.Chosen
}

func maxBallotOf(a, b paxos.Ballot) paxos.Ballot {
	if a.Less(b) {
		return b
	}
	return a
}
