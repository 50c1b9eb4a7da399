package node

import (
	"context"
	"errors"

	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// errNoPaxosTransport: the node has no transport to Paxos acceptors yet;
// every register round fails as unavailable.
var errNoPaxosTransport = errors.New("node: no Paxos transport")

// noAcceptors answers every Paxos message with errNoPaxosTransport.
type noAcceptors struct{}

func (noAcceptors) Prepare(_ context.Context, _ string, _ serial.Target, _ paxos.Ballot, done func(paxos.PrepareReply, error)) {
	done(paxos.PrepareReply{}, errNoPaxosTransport)
}

func (noAcceptors) Accept(_ context.Context, _ string, _ serial.Target, _ paxos.Ballot, _ paxos.State, _ paxos.Ballot, done func(paxos.AcceptReply, error)) {
	done(paxos.AcceptReply{}, errNoPaxosTransport)
}

// paxosFloor is the ballot floor of partition p as this node knows it.
func (n *Node) paxosFloor(p int) paxos.Ballot {
	f, err := n.store.PaxosFloor(p)
	if err != nil {
		return paxos.Ballot{}
	}
	return f
}
