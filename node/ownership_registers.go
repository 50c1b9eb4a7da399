package node

import (
	"context"
	"fmt"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
)

// Registers move with their partition, by Paxos rules: a node that pulls a
// partition (it gains it, or refills it after lost data) copies every
// register of it from each source it syncs with — the record with the
// greater accepted ballot wins, with the greater promise, and the
// partition's floor is raised to the source's — and a source counts only
// if it holds the partition and sees the same configuration of it (ring
// epoch and move) as this node. The pull rule's sources (ring.PullQuorum
// of the current replicas) meet every majority of them, so every chosen
// register reaches this node; and since acceptors take only rounds of
// their own configuration, once those sources know of the move no round
// that ignores it can be chosen afterwards. Until the pull completes this
// node answers no Paxos message for the partition (NOT_READY). As for the
// data, a source that does not hold the partition itself counts only when
// neither it nor this node holds any register of it.

const registerScanTimeout = 30 * time.Second

// copyRegisters copies the registers of parts from source and returns the
// partitions copied in full from a source that agrees on their
// configuration.
func (o *ownership) copyRegisters(ctx context.Context, source string, v *ring.View, parts []int) map[int]bool {
	ok := map[int]bool{}
	if len(parts) == 0 {
		return ok
	}
	ctx, cancel := context.WithTimeout(ctx, registerScanTimeout)
	defer cancel()
	req := &api.PaxosScanRequest{From: o.n.cfg.ID, Partitions: make([]uint32, len(parts))}
	for i, p := range parts {
		req.Partitions[i] = uint32(p)
	}
	agree := map[int]bool{}
	failed := map[int]bool{}
	for {
		resp, err := o.n.transport.ScanRegisters(ctx, source, req)
		if err != nil {
			o.log.Debug("cannot copy registers", "peer", source, "err", err)
			return ok
		}
		for _, ps := range resp.GetPartitions() {
			p := int(ps.GetPartition())
			if ps.GetEpoch() != v.Epoch || ps.GetMoving() != movingIn(v, p) {
				failed[p] = true
				continue
			}
			if !ps.GetHeld() {
				// Like equal Merkle roots for the data: a source that
				// does not hold the partition yet counts only when both
				// hold no register of it (a cluster forming).
				if empty, err := o.n.registersEmpty(p); err != nil || !empty || !ps.GetEmpty() {
					failed[p] = true
				} else {
					agree[p] = true
				}
				continue
			}
			agree[p] = true
			if err := o.install(p, ps); err != nil {
				o.log.Error("cannot install a copied register", "partition", p, "peer", source, "err", err)
				failed[p] = true
			}
		}
		if !resp.GetMore() {
			break
		}
		req.AfterPartition, req.AfterKey = resp.GetAfterPartition(), resp.GetAfterKey()
	}
	for p := range agree {
		if !failed[p] {
			ok[p] = true
		}
	}
	return ok
}

func (o *ownership) install(p int, ps *api.PaxosPartitionScan) error {
	if f := peer.BallotFromPB(ps.GetFloor()); !f.IsZero() {
		if err := o.n.store.RaiseFloor(p, f); err != nil {
			return err
		}
	}
	for _, r := range ps.GetRecords() {
		st, err := paxos.DecodeState(r.GetState())
		if err != nil {
			return fmt.Errorf("register %q: %w", r.GetKey(), err)
		}
		rec := paxos.Record{Promise: peer.BallotFromPB(r.GetPromise()), Accepted: peer.BallotFromPB(r.GetAccepted()), State: st}
		k := replica.RegisterKey{Partition: p, Kind: byte(r.GetKind()), Key: r.GetKey()}
		if err := o.n.store.InstallRegister(k, rec); err != nil {
			return err
		}
	}
	return nil
}
