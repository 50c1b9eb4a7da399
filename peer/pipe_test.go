package peer

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/wire"
	"github.com/quorumkv/quorumkv/vclock"
)

// fakePeer accepts one pipe connection and hands its requests to the test,
// which answers them when it likes.
type fakePeer struct {
	l    net.Listener
	reqs chan *api.PipeRequest
	conn chan *PipeServerConn
}

func newFakePeer(t *testing.T) *fakePeer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{l: l, reqs: make(chan *api.PipeRequest, 16), conn: make(chan *PipeServerConn, 1)}
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		pc, err := AcceptPipe(c, wire.ReadLimits{})
		if err != nil {
			return
		}
		f.conn <- pc
		for {
			req, err := pc.Recv()
			if err != nil {
				return
			}
			f.reqs <- req
		}
	}()
	t.Cleanup(func() { l.Close() })
	return f
}

func (f *fakePeer) next(t *testing.T) *api.PipeRequest {
	t.Helper()
	select {
	case r := <-f.reqs:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the peer got no request")
		return nil
	}
}

// TestPipeHoldsAppliesWhileABatchIsUnanswered: applies that come while the
// peer works on a batch of applies leave together once it answers; reads
// never wait behind applies.
func TestPipeHoldsAppliesWhileABatchIsUnanswered(t *testing.T) {
	peer := newFakePeer(t)
	tr := newTestTransport(t, func(string) (string, bool) { return peer.l.Addr().String(), true })
	tr.pipes.hold = time.Minute // only an answer releases held applies
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	done := make(chan error, 4)
	apply := func(key string) {
		tr.ApplyAsync(ctx, "n2", []byte(key), vclock.Clock{}, func(err error) { done <- err })
	}
	apply("a")
	first := peer.next(t)
	if len(first.GetApplies()) != 1 {
		t.Fatalf("first batch: %v", first)
	}
	apply("b")
	// An absence can only be shown by waiting: b must not leave on its own.
	select {
	case r := <-peer.reqs:
		t.Fatalf("an apply left while a batch of applies was unanswered: %v", r)
	case <-time.After(200 * time.Millisecond):
	}
	apply("c")
	apply("d")

	readDone := make(chan error, 1)
	go func() { _, _, err := tr.Read(ctx, "n2", []byte("r")); readDone <- err }()
	read := peer.next(t)
	if len(read.GetReads()) != 1 || len(read.GetApplies()) != 0 {
		t.Fatalf("want the read alone while applies are held, got %v", read)
	}
	pc := <-peer.conn
	if err := pc.Send(&api.PipeResponse{Id: read.GetId(), Reads: []*api.ReadResponse{{Clock: vclock.Clock{}.Marshal()}}}); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatalf("read: %v", err)
	}

	if err := pc.Send(&api.PipeResponse{Id: first.GetId(), Errors: []string{""}}); err != nil {
		t.Fatal(err)
	}
	second := peer.next(t)
	if got := len(second.GetApplies()); got != 3 {
		t.Fatalf("after the answer, %d applies left together, want 3: %v", got, second)
	}
	if err := pc.Send(&api.PipeResponse{Id: second.GetId(), Errors: make([]string, 3)}); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatalf("apply: %v", err)
		}
	}
}

// TestPipeHoldEnds: held applies go after the hold time even when the peer
// never answers (its stream is then found stale by the usual check).
func TestPipeHoldEnds(t *testing.T) {
	peer := newFakePeer(t)
	tr := newTestTransport(t, func(string) (string, bool) { return peer.l.Addr().String(), true })
	tr.pipes.hold = 50 * time.Millisecond
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr.ApplyAsync(ctx, "n2", []byte("a"), vclock.Clock{}, func(error) {})
	peer.next(t)
	tr.ApplyAsync(ctx, "n2", []byte("b"), vclock.Clock{}, func(error) {})
	if second := peer.next(t); len(second.GetApplies()) != 1 || string(second.GetApplies()[0].GetKey()) != "b" {
		t.Fatalf("second batch: %v", second)
	}
}

// TestPipeBatchCarriesItsDeadline: a batch carries the latest deadline of
// its operations, so the peer can refuse it when the network delivers it
// long after the sender gave up; a batch with an operation without a
// deadline carries none.
func TestPipeBatchCarriesItsDeadline(t *testing.T) {
	peer := newFakePeer(t)
	tr := newTestTransport(t, func(string) (string, bool) { return peer.l.Addr().String(), true })
	tr.pipes.hold = time.Minute // only an answer releases held applies
	defer tr.Close()
	early, cancelEarly := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancelEarly()
	late, cancelLate := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLate()

	tr.ApplyAsync(early, "n2", []byte("a"), vclock.Clock{}, func(error) {})
	first := peer.next(t)
	if d, _ := early.Deadline(); first.GetDeadlineUnixNano() != d.UnixNano() {
		t.Fatalf("first batch carries deadline %d, want %d", first.GetDeadlineUnixNano(), d.UnixNano())
	}
	tr.ApplyAsync(early, "n2", []byte("b"), vclock.Clock{}, func(error) {})
	tr.ApplyAsync(late, "n2", []byte("c"), vclock.Clock{}, func(error) {})
	pc := <-peer.conn
	if err := pc.Send(&api.PipeResponse{Id: first.GetId(), Errors: []string{""}}); err != nil {
		t.Fatal(err)
	}
	second := peer.next(t)
	if d, _ := late.Deadline(); len(second.GetApplies()) != 2 || second.GetDeadlineUnixNano() != d.UnixNano() {
		t.Fatalf("second batch (%d applies) carries deadline %d, want the latest, %d", len(second.GetApplies()), second.GetDeadlineUnixNano(), d.UnixNano())
	}
	if err := pc.Send(&api.PipeResponse{Id: second.GetId(), Errors: make([]string, 2)}); err != nil {
		t.Fatal(err)
	}
	tr.ApplyAsync(context.Background(), "n2", []byte("d"), vclock.Clock{}, func(error) {})
	if third := peer.next(t); third.GetDeadlineUnixNano() != 0 {
		t.Fatalf("a batch with an operation without deadline carries deadline %d, want none", third.GetDeadlineUnixNano())
	}
}
