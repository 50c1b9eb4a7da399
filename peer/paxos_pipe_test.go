package peer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// okAcceptor is a local acceptor that grants every prepare and accept.
type okAcceptor struct{}

func okReplies(b *api.PaxosBatch) *api.PaxosReplies {
	out := &api.PaxosReplies{}
	for range b.GetItems() {
		out.Replies = append(out.Replies, &api.PaxosReply{State: paxos.EncodeState(paxos.State{})})
	}
	return out
}

func (okAcceptor) Prepare(_ context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error) {
	return okReplies(b), nil
}

func (okAcceptor) Accept(_ context.Context, b *api.PaxosBatch) (*api.PaxosReplies, error) {
	return okReplies(b), nil
}

func testTarget() serial.Target {
	return serial.Target{Partition: 1, Kind: serial.KindSerial, Key: []byte("k"), Epoch: 1}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
		return nil
	}
}

// TestPaxosItemsTravelOnThePipe: prepares and accepts to a peer leave on
// its pipe, each kind in its own batch, and its replies answer them.
func TestPaxosItemsTravelOnThePipe(t *testing.T) {
	fp := newFakePeer(t)
	tr := newTestTransport(t, func(string) (string, bool) { return fp.l.Addr().String(), true })
	defer tr.Close()
	acc := tr.Acceptors(okAcceptor{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	prepared := make(chan error, 1)
	acc.Prepare(ctx, "n2", testTarget(), paxos.Ballot{Counter: 1, Node: "n1"}, func(r paxos.PrepareReply, err error) {
		if err == nil && !r.OK {
			err = errors.New("prepare refused")
		}
		prepared <- err
	})
	req := fp.next(t)
	if len(req.GetPrepares()) != 1 || len(req.GetAccepts())+len(req.GetApplies())+len(req.GetReads()) != 0 {
		t.Fatalf("want one prepare alone, got %v", req)
	}
	pc := <-fp.conn
	if err := pc.Send(&api.PipeResponse{Id: req.GetId(), Paxos: []*api.PaxosReply{{State: paxos.EncodeState(paxos.State{})}}}); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, prepared); err != nil {
		t.Fatalf("prepare: %v", err)
	}

	accepted := make(chan error, 1)
	acc.Accept(ctx, "n2", testTarget(), paxos.Ballot{Counter: 1, Node: "n1"}, paxos.State{Value: []byte("v")}, paxos.Ballot{}, func(r paxos.AcceptReply, err error) {
		if err == nil && !r.OK {
			err = errors.New("accept refused")
		}
		accepted <- err
	})
	req = fp.next(t)
	if len(req.GetAccepts()) != 1 || len(req.GetPrepares()) != 0 {
		t.Fatalf("want one accept alone, got %v", req)
	}
	if err := pc.Send(&api.PipeResponse{Id: req.GetId(), Paxos: []*api.PaxosReply{{}}}); err != nil {
		t.Fatal(err)
	}
	if err := waitErr(t, accepted); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if s := acc.Sent(); s.UnaryCalls != 0 || s.PipeItems != 2 {
		t.Fatalf("sent %+v, want 2 items on the pipe and no call", s)
	}
}

// TestPaxosBrokenPipeMidBatch: accepts that left on a pipe that then
// breaks are answered with ErrNoAnswer, never as unreachable (which says
// they did not run there), and the proposer reports such a round's change
// as of unknown outcome. An accept still queued when the pipe broke never
// left, so it may be answered as unreachable.
func TestPaxosBrokenPipeMidBatch(t *testing.T) {
	peers := map[string]*fakePeer{"n2": newFakePeer(t), "n3": newFakePeer(t)}
	tr := newTestTransport(t, func(node string) (string, bool) {
		if fp, ok := peers[node]; ok {
			return fp.l.Addr().String(), true
		}
		return "", false
	})
	defer tr.Close()
	acc := tr.Acceptors(okAcceptor{}, nil)

	// Each peer grants prepares, then breaks its pipe (and takes no new
	// one) when the accepts arrive.
	broke := make(chan int, 2) // the accepts a peer received before it broke
	for _, fp := range peers {
		go func() {
			pc := <-fp.conn
			for req := range fp.reqs {
				if len(req.GetAccepts()) > 0 {
					_ = fp.l.Close()
					_ = pc.Close()
					broke <- len(req.GetAccepts())
					return
				}
				resp := &api.PipeResponse{Id: req.GetId()}
				for range req.GetPrepares() {
					resp.Paxos = append(resp.Paxos, &api.PaxosReply{State: paxos.EncodeState(paxos.State{})})
				}
				_ = pc.Send(resp)
			}
		}()
	}

	// The items themselves.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan error, 2)
	for range 2 {
		acc.Accept(ctx, "n2", testTarget(), paxos.Ballot{Counter: 1, Node: "n1"}, paxos.State{Value: []byte("v")}, paxos.Ballot{}, func(_ paxos.AcceptReply, err error) {
			accepted <- err
		})
	}
	received := <-broke
	noAnswer := 0
	for range 2 {
		err := waitErr(t, accepted)
		left, unreachable := errors.Is(err, ErrNoAnswer), errors.Is(err, coordinator.ErrUnreachable)
		switch {
		case left && !unreachable:
			noAnswer++
		case unreachable && !left: // still queued when the pipe broke
		default:
			t.Fatalf("accept on a broken pipe: %v, want ErrNoAnswer or unreachable, not both", err)
		}
	}
	if noAnswer < received {
		t.Fatalf("n2 received %d accepts and %d were answered ErrNoAnswer: an accept that left was called unreachable", received, noAnswer)
	}

	// Through a proposer: n3 breaks on the round's accept (n2 refuses
	// connections now), so one acceptor of three took it.
	p, err := serial.New(serial.Config{NodeID: "n1", Acceptors: acc, View: threeAcceptors{}, RequestTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Do(ctx, serial.KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpSet, Value: []byte("v")})
	if !errors.Is(err, serial.ErrOutcomeUnknown) {
		t.Fatalf("a change whose accept left on a pipe that broke: %v, want ErrOutcomeUnknown", err)
	}
}

// threeAcceptors routes every register to n1 (local), n2 and n3.
type threeAcceptors struct{}

func (threeAcceptors) Route([]byte) (serial.Route, error) {
	return serial.Route{Partition: 1, Epoch: 1, Quorum: paxos.Quorum{Old: []string{"n1", "n2", "n3"}}, Config: "1/"}, nil
}

func (threeAcceptors) Learn(string, uint64) {}

// TestPaxosFallsBackToTheService: a peer that answers a batch of Paxos
// items with no replies (it knows only applies and reads on its pipe) gets
// them as a call of the Paxos service instead.
func TestPaxosFallsBackToTheService(t *testing.T) {
	fp := newFakePeer(t)
	tr := newTestTransport(t, func(string) (string, bool) { return fp.l.Addr().String(), true })
	defer tr.Close()
	acc := tr.Acceptors(okAcceptor{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	acc.Prepare(ctx, "n2", testTarget(), paxos.Ballot{Counter: 1, Node: "n1"}, func(_ paxos.PrepareReply, err error) { done <- err })
	req := fp.next(t)
	pc := <-fp.conn
	if err := pc.Send(&api.PipeResponse{Id: req.GetId()}); err != nil {
		t.Fatal(err)
	}
	// The fake peer serves no gRPC: the call fails, but it was made.
	_ = waitErr(t, done)
	if s := acc.Sent(); s.UnaryCalls != 1 {
		t.Fatalf("sent %+v, want one call of the Paxos service", s)
	}
	if acc.pipeable("n2") {
		t.Fatal("the peer still counts as taking Paxos messages on its pipe")
	}
}
