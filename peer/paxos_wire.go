package peer

import (
	"fmt"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// BallotToPB is b on the wire.
func BallotToPB(b paxos.Ballot) *api.PaxosBallot {
	if b.IsZero() {
		return nil
	}
	return &api.PaxosBallot{Counter: b.Counter, Node: b.Node}
}

// BallotFromPB is the ballot b carries (zero for nil).
func BallotFromPB(b *api.PaxosBallot) paxos.Ballot {
	return paxos.Ballot{Counter: b.GetCounter(), Node: b.GetNode()}
}

// refusal is the error an item's status stands for (nil for OK and
// REFUSED, which are replies).
func refusal(node string, r *api.PaxosReply) error {
	switch r.GetStatus() {
	case api.PaxosStatus_PAXOS_OK, api.PaxosStatus_PAXOS_REFUSED:
		return nil
	case api.PaxosStatus_PAXOS_STALE_EPOCH:
		return &serial.StaleEpochError{Epoch: r.GetEpoch()}
	case api.PaxosStatus_PAXOS_NOT_REPLICA:
		return &serial.NotReplicaError{Node: node, Epoch: r.GetEpoch()}
	case api.PaxosStatus_PAXOS_NOT_READY:
		return serial.ErrNotReady
	case api.PaxosStatus_PAXOS_DISK_FULL:
		return serial.ErrDiskFull
	}
	return fmt.Errorf("acceptor %s: %s", node, r.GetStatus())
}

// PrepareReplyFromPB decodes a prepare's reply item.
func PrepareReplyFromPB(node string, r *api.PaxosReply) (paxos.PrepareReply, error) {
	if err := refusal(node, r); err != nil {
		return paxos.PrepareReply{}, err
	}
	if r.GetStatus() == api.PaxosStatus_PAXOS_REFUSED {
		return paxos.PrepareReply{Seen: BallotFromPB(r.GetSeen())}, nil
	}
	st, err := paxos.DecodeState(r.GetState())
	if err != nil {
		return paxos.PrepareReply{}, fmt.Errorf("acceptor %s: %w", node, err)
	}
	return paxos.PrepareReply{OK: true, Accepted: BallotFromPB(r.GetAccepted()), State: st}, nil
}

// AcceptReplyFromPB decodes an accept's reply item.
func AcceptReplyFromPB(node string, r *api.PaxosReply) (paxos.AcceptReply, error) {
	if err := refusal(node, r); err != nil {
		return paxos.AcceptReply{}, err
	}
	if r.GetStatus() == api.PaxosStatus_PAXOS_REFUSED {
		return paxos.AcceptReply{Seen: BallotFromPB(r.GetSeen()), Breach: r.GetBreach()}, nil
	}
	return paxos.AcceptReply{OK: true}, nil
}
