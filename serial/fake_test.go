package serial

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/paxos"
)

// fakeAcceptors is an in-memory set of acceptors applying paxos.Prepare and
// paxos.Accept, with faults a test sets per node.
type fakeAcceptors struct {
	mu    sync.Mutex
	recs  map[string]map[string]paxos.Record // node → register → record
	floor paxos.Ballot
	// fault, when set, is asked before each message: a non-nil error fails
	// it (the message is not applied).
	fault func(node string, accept bool) error
	// acceptFault, when set, is asked before each accept with its state:
	// a non-nil error fails it.
	acceptFault func(node string, st paxos.State) error
	// lose, when set, is asked after an accept was applied: true loses its
	// reply (the caller sees an error).
	lose func(node string) bool
	// hold, when set, is asked before each message: a non-nil channel
	// delays it (applied and answered) until the channel closes or the
	// message's context ends.
	hold func(node string, accept bool) chan struct{}
	// epoch, when non-zero, is the epoch every acceptor holds: messages
	// below it are refused as stale.
	epoch    uint64
	prepares int
	accepts  int
}

func newFake(nodes ...string) *fakeAcceptors {
	f := &fakeAcceptors{recs: map[string]map[string]paxos.Record{}}
	for _, n := range nodes {
		f.recs[n] = map[string]paxos.Record{}
	}
	return f
}

var errFakeDown = fmt.Errorf("fake: node down")

func regKey(t Target) string { return queueKey(t.Kind, t.Key) }

func (f *fakeAcceptors) gate(ctx context.Context, node string, accept bool) error {
	f.mu.Lock()
	hold, fault := f.hold, f.fault
	if accept {
		f.accepts++
	} else {
		f.prepares++
	}
	f.mu.Unlock()
	if hold != nil {
		if ch := hold(node, accept); ch != nil {
			select {
			case <-ch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if fault != nil {
		if err := fault(node, accept); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeAcceptors) Prepare(ctx context.Context, node string, t Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	go func() {
		if err := f.gate(ctx, node, false); err != nil {
			done(paxos.PrepareReply{}, err)
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		if t.Epoch < f.epoch {
			done(paxos.PrepareReply{}, &StaleEpochError{Epoch: f.epoch})
			return
		}
		next, rep, write := paxos.Prepare(f.recs[node][regKey(t)], f.floor, b)
		if write {
			f.recs[node][regKey(t)] = next
		}
		done(rep, nil)
	}()
}

func (f *fakeAcceptors) Accept(ctx context.Context, node string, t Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error)) {
	go func() {
		if err := f.gate(ctx, node, true); err != nil {
			done(paxos.AcceptReply{}, err)
			return
		}
		f.mu.Lock()
		if af := f.acceptFault; af != nil {
			if err := af(node, st); err != nil {
				f.mu.Unlock()
				done(paxos.AcceptReply{}, err)
				return
			}
		}
		if t.Epoch < f.epoch {
			f.mu.Unlock()
			done(paxos.AcceptReply{}, &StaleEpochError{Epoch: f.epoch})
			return
		}
		next, rep, write := paxos.Accept(f.recs[node][regKey(t)], f.floor, b, st, promise)
		if write {
			f.recs[node][regKey(t)] = next
		}
		lose := f.lose
		f.mu.Unlock()
		if lose != nil && lose(node) {
			done(paxos.AcceptReply{}, errFakeDown)
			return
		}
		done(rep, nil)
	}()
}

func (f *fakeAcceptors) record(node string, kind byte, key string) paxos.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.recs[node][queueKey(kind, []byte(key))]
}

func (f *fakeAcceptors) set(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
}

func (f *fakeAcceptors) counts() (prepares, accepts int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prepares, f.accepts
}

// fakeView routes every key to the same acceptors.
type fakeView struct {
	mu      sync.Mutex
	q       paxos.Quorum
	epoch   uint64
	learned []string
}

func (v *fakeView) Route(key []byte) (Route, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return Route{Partition: 7, Epoch: v.epoch, Quorum: v.q, Config: fmt.Sprint(v.epoch)}, nil
}

func (v *fakeView) Learn(node string, epoch uint64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.learned = append(v.learned, node)
	if epoch > v.epoch {
		v.epoch = epoch
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var threeNodes = []string{"a", "b", "c"}

// newTestProposer returns a proposer on three fake acceptors a, b, c.
func newTestProposer(t *testing.T, tune func(*Config)) (*Proposer, *fakeAcceptors, *fakeView) {
	t.Helper()
	f := newFake(threeNodes...)
	v := &fakeView{q: paxos.Quorum{Old: threeNodes}, epoch: 1}
	cfg := Config{NodeID: "a", Acceptors: f, View: v, RequestTimeout: 5 * time.Second}
	if tune != nil {
		tune(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, f, v
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// queued is how many operations wait in the queue of a register.
func (p *Proposer) queued(kind byte, key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q := p.queues[queueKey(kind, []byte(key))]; q != nil {
		return len(q.ops)
	}
	return 0
}
