package node

import (
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/serial"
)

// startSerial makes the node's proposer of registers and its locks, on
// the acceptors (the transport to the Paxos services, or what fault tests
// wrap it in), and the forwarder of register requests.
func (n *Node) startSerial(acc serial.Acceptors) error {
	if n.cfg.WrapAcceptors != nil {
		acc = n.cfg.WrapAcceptors(acc)
	}
	n.acceptors = acc
	p, err := serial.New(serial.Config{
		NodeID: n.cfg.ID, Acceptors: acc, View: serialView{n: n}, Clock: n.cfg.Clock, Mono: n.cfg.Mono,
		Logger: n.log, RequestTimeout: n.cfg.SerialTimeout, Run: n.work.Run,
	})
	if err != nil {
		return err
	}
	n.proposer, n.locks = p, serial.NewLocks(p)
	n.forwarder = newForwarder(n.members.Addr, n.peerTLS)
	if n.cfg.WrapSerialForwarder != nil {
		n.forwarder = n.cfg.WrapSerialForwarder(n.forwarder)
	}
	return nil
}

// Proposer is the node's proposer of registers (tests read its counters).
func (n *Node) Proposer() *serial.Proposer { return n.proposer }

// PaxosSent counts how the node's Paxos messages left for other nodes
// (tests read it).
func (n *Node) PaxosSent() peer.PaxosSent {
	if n.paxosOut == nil {
		return peer.PaxosSent{}
	}
	return n.paxosOut.Sent()
}

// serialView is the node's ring as its proposer routes registers by.
type serialView struct{ n *Node }

// Route is the register's configuration in the node's view now: the
// committed ring's replicas of the key's partition, and while a change
// moves the partition also the target ring's (a joint quorum). The
// configuration is named by the ring epoch and the target ring.
func (v serialView) Route(key []byte) (serial.Route, error) {
	view := v.n.members.View()
	p := view.Ring.Partition(key)
	old := view.Ring.Preference(p)
	if len(old) == 0 {
		return serial.Route{}, fmt.Errorf("node: no replicas of partition %d in the ring", p)
	}
	q := paxos.Quorum{Old: old}
	if view.Changing() {
		if nw := view.Target.Preference(p); !slices.Equal(nw, old) {
			q.New = nw
		}
	}
	moving := movingOf(q)
	return serial.Route{
		Partition: p, Epoch: view.Epoch, Moving: moving, Quorum: q,
		Config: fmt.Sprintf("%d/%s", view.Epoch, moving),
		Floor:  v.n.paxosFloor(p),
	}, nil
}

// Learn asks node for its ring document when it refused a round as stale:
// it holds a newer epoch, or another move of the partition at the same
// epoch (then either side may be behind, and both sync).
func (v serialView) Learn(node string, epoch uint64) {
	if epoch >= v.n.members.View().Epoch {
		v.n.members.SyncWith(node)
	}
}

// preferredProposer is the node register requests for key go to: the
// first replica of its partition in the committed ring that gossip holds
// alive and the transport does not find quiet (this node when none is).
func (n *Node) preferredProposer(key []byte) string {
	r := n.members.Ring()
	for _, id := range r.Preference(r.Partition(key)) {
		if id == n.cfg.ID || n.members.Alive(id) && !n.transport.Quiet(id) {
			return id
		}
	}
	return n.cfg.ID
}
