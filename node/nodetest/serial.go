package nodetest

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// WrapAcceptors returns a node.Config.WrapAcceptors for node from: Paxos
// messages obey the same cut links.
func (f *Faults) WrapAcceptors(from string) func(serial.Acceptors) serial.Acceptors {
	return func(inner serial.Acceptors) serial.Acceptors {
		return &faultyAcceptors{from: from, inner: inner, f: f}
	}
}

type faultyAcceptors struct {
	from  string
	inner serial.Acceptors
	f     *Faults
}

func (a *faultyAcceptors) Prepare(ctx context.Context, to string, t serial.Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	if mode, cut := a.f.verdict(a.from, to); cut {
		go func() { done(paxos.PrepareReply{}, a.f.fail(ctx, a.from, to, mode)) }()
		return
	}
	a.inner.Prepare(ctx, to, t, b, done)
}

func (a *faultyAcceptors) Accept(ctx context.Context, to string, t serial.Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error)) {
	if mode, cut := a.f.verdict(a.from, to); cut {
		go func() { done(paxos.AcceptReply{}, a.f.fail(ctx, a.from, to, mode)) }()
		return
	}
	a.inner.Accept(ctx, to, t, b, st, promise, done)
}

// WrapSerialForwarder returns a node.Config.WrapSerialForwarder for node
// from: forwarded register requests obey the same cut links.
func (f *Faults) WrapSerialForwarder(from string) func(node.SerialForwarder) node.SerialForwarder {
	return func(inner node.SerialForwarder) node.SerialForwarder {
		return &faultyForwarder{from: from, inner: inner, f: f}
	}
}

type faultyForwarder struct {
	from  string
	inner node.SerialForwarder
	f     *Faults
}

func (w *faultyForwarder) Forward(ctx context.Context, to string, call func(context.Context, grpc.ClientConnInterface) error) error {
	if err := w.f.check(ctx, w.from, to); err != nil {
		return err
	}
	return w.inner.Forward(ctx, to, call)
}

func (w *faultyForwarder) Close() { w.inner.Close() }

// Conn returns a gRPC connection to node id, closed when the test ends.
func (c *Cluster) Conn(id string) *grpc.ClientConn {
	c.t.Helper()
	cc, err := grpc.NewClient(c.Node(id).Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// Serial returns a Serial client of node id.
func (c *Cluster) Serial(id string) api.SerialClient { return api.NewSerialClient(c.Conn(id)) }

// Locks returns a Locks client of node id.
func (c *Cluster) Locks(id string) api.LocksClient { return api.NewLocksClient(c.Conn(id)) }
