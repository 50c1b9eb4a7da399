package nodetest

import (
	"context"
	"fmt"
	"sync"

	"github.com/quorumkv/quorumkv/antientropy"
	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/vclock"
)

// Mode is how a cut link fails.
type Mode int

const (
	// Refuse fails calls at once, like a closed port.
	Refuse Mode = iota
	// Hang holds calls until their deadline, like a lost packet.
	Hang
)

// Faults is the shared fault state of a cluster's node-to-node links.
type Faults struct {
	mu     sync.Mutex
	cut    map[[2]string]Mode // (from, to)
	budget map[[2]string]int  // calls left before the link breaks
}

// NewFaults returns a fault state with every link up.
func NewFaults() *Faults {
	return &Faults{cut: map[[2]string]Mode{}, budget: map[[2]string]int{}}
}

// CutAfter lets `calls` more calls from a to b through, then refuses them
// (one way): a link that fails in the middle of a transfer.
func (f *Faults) CutAfter(a, b string, calls int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget[[2]string{a, b}] = calls
}

// Cut breaks the link between a and b, both ways.
func (f *Faults) Cut(a, b string, mode Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cut[[2]string{a, b}] = mode
	f.cut[[2]string{b, a}] = mode
}

// Isolate cuts node off from every node in others.
func (f *Faults) Isolate(node string, others []string, mode Mode) {
	for _, o := range others {
		if o != node {
			f.Cut(node, o, mode)
		}
	}
}

// Heal restores every link.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.cut)
	clear(f.budget)
}

func (f *Faults) check(ctx context.Context, from, to string) error {
	mode, cut := f.verdict(from, to)
	if !cut {
		return nil
	}
	return f.fail(ctx, from, to, mode)
}

// verdict says whether one call from -> to is cut, and how.
func (f *Faults) verdict(from, to string) (Mode, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	link := [2]string{from, to}
	mode, cut := f.cut[link]
	if left, ok := f.budget[link]; ok {
		if left <= 0 {
			mode, cut = Refuse, true
		}
		f.budget[link] = left - 1
	}
	return mode, cut
}

// fail is a cut call's error, after ctx ends when the link hangs.
func (f *Faults) fail(ctx context.Context, from, to string, mode Mode) error {
	if mode == Hang {
		<-ctx.Done()
		return fmt.Errorf("%w: %s -> %s partitioned: %v", coordinator.ErrUnreachable, from, to, ctx.Err())
	}
	return fmt.Errorf("%w: %s -> %s partitioned", coordinator.ErrUnreachable, from, to)
}

// Wrap returns a node.Config.WrapTransport for node from.
func (f *Faults) Wrap(from string) func(coordinator.Transport) coordinator.Transport {
	return func(inner coordinator.Transport) coordinator.Transport {
		return &faultyTransport{from: from, inner: inner, f: f}
	}
}

type faultyTransport struct {
	from  string
	inner coordinator.Transport
	f     *Faults
}

func (t *faultyTransport) Apply(ctx context.Context, node string, key []byte, c vclock.Clock) error {
	if err := t.f.check(ctx, t.from, node); err != nil {
		return err
	}
	return t.inner.Apply(ctx, node, key, c)
}

func (t *faultyTransport) ApplyAsync(ctx context.Context, node string, key []byte, c vclock.Clock, done func(error)) {
	mode, cut := t.f.verdict(t.from, node)
	aa, async := t.inner.(coordinator.AsyncApplier)
	switch {
	case cut:
		go func() { done(t.f.fail(ctx, t.from, node, mode)) }()
	case async:
		aa.ApplyAsync(ctx, node, key, c, done)
	default:
		go func() { done(t.inner.Apply(ctx, node, key, c)) }()
	}
}

func (t *faultyTransport) Read(ctx context.Context, node string, key []byte) (vclock.Clock, bool, error) {
	if err := t.f.check(ctx, t.from, node); err != nil {
		return vclock.Clock{}, false, err
	}
	return t.inner.Read(ctx, node, key)
}

func (t *faultyTransport) ReadAsync(ctx context.Context, node string, key []byte, done func(vclock.Clock, bool, error)) {
	mode, cut := t.f.verdict(t.from, node)
	ar, async := t.inner.(coordinator.AsyncReader)
	switch {
	case cut:
		go func() { done(vclock.Clock{}, false, t.f.fail(ctx, t.from, node, mode)) }()
	case async:
		ar.ReadAsync(ctx, node, key, done)
	default:
		go func() { done(t.inner.Read(ctx, node, key)) }()
	}
}

func (t *faultyTransport) Coordinate(ctx context.Context, node string, w coordinator.Write) (coordinator.WriteResult, error) {
	if err := t.f.check(ctx, t.from, node); err != nil {
		return coordinator.WriteResult{}, err
	}
	return t.inner.Coordinate(ctx, node, w)
}

func (t *faultyTransport) Hint(ctx context.Context, node, target string, key []byte, c vclock.Clock) error {
	if err := t.f.check(ctx, t.from, node); err != nil {
		return err
	}
	return t.inner.Hint(ctx, node, target, key, c)
}

// WrapPeer returns a node.Config.WrapPeer for node from: anti-entropy
// exchanges obey the same cut links.
func (f *Faults) WrapPeer(from string) func(string, antientropy.Peer) antientropy.Peer {
	return func(to string, p antientropy.Peer) antientropy.Peer {
		return &faultyPeer{from: from, to: to, inner: p, f: f}
	}
}

type faultyPeer struct {
	from, to string
	inner    antientropy.Peer
	f        *Faults
}

func (p *faultyPeer) Root(ctx context.Context, part int) (uint64, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return 0, err
	}
	return p.inner.Root(ctx, part)
}

func (p *faultyPeer) Branches(ctx context.Context, part int) ([antientropy.Branches]uint64, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return [antientropy.Branches]uint64{}, err
	}
	return p.inner.Branches(ctx, part)
}

func (p *faultyPeer) Segments(ctx context.Context, part int, branches []int) ([][antientropy.SegmentsPerBranch]uint64, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return nil, err
	}
	return p.inner.Segments(ctx, part, branches)
}

func (p *faultyPeer) Keys(ctx context.Context, part int, segments []int) ([]antientropy.KeyHash, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return nil, err
	}
	return p.inner.Keys(ctx, part, segments)
}

func (p *faultyPeer) Fetch(ctx context.Context, part int, keys [][]byte) ([]antientropy.Object, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return nil, err
	}
	return p.inner.Fetch(ctx, part, keys)
}

func (p *faultyPeer) Push(ctx context.Context, part int, objs []antientropy.Object) error {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return err
	}
	return p.inner.Push(ctx, part, objs)
}

func (p *faultyPeer) Reap(ctx context.Context, part int, objs []antientropy.Object) (int, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return 0, err
	}
	r, ok := p.inner.(antientropy.RemoteReaper)
	if !ok {
		return 0, fmt.Errorf("peer %s cannot reap", p.to)
	}
	return r.Reap(ctx, part, objs)
}

// Roots passes a node's many-roots call through the same cut links.
func (p *faultyPeer) Roots(ctx context.Context, parts []int) ([]peer.PartitionRoot, error) {
	if err := p.f.check(ctx, p.from, p.to); err != nil {
		return nil, err
	}
	r, ok := p.inner.(interface {
		Roots(context.Context, []int) ([]peer.PartitionRoot, error)
	})
	if !ok {
		return nil, fmt.Errorf("peer %s answers no roots", p.to)
	}
	return r.Roots(ctx, parts)
}
