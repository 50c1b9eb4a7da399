package node

import (
	"context"
	"fmt"
	"sync"

	"github.com/quorumkv/quorumkv/api"
)

// renewBatcher sends the keep-alives bound for one peer together: while a
// call to the peer is in flight, the renewals that arrive wait and go in
// the next call, so a peer gets one message per round trip, not one per
// keep-alive.
type renewBatcher struct {
	send func(ctx context.Context, node string, ids []uint64) (*api.LeasePeerResponse, error)

	mu    sync.Mutex
	peers map[string]*peerRenewals
}

// peerRenewals is one peer's batching state: whether a call is in flight
// and the wave that goes next.
type peerRenewals struct {
	inflight bool
	next     *renewWave
}

// renewWave is one call's renewals and, once done, its answers.
type renewWave struct {
	ids  []uint64
	done chan struct{}
	got  map[uint64]*api.LeasePeerEntry
	err  error
}

// maxWave bounds the leases of one call (the peer refuses more).
const maxWave = 1024

func newRenewBatcher(send func(ctx context.Context, node string, ids []uint64) (*api.LeasePeerResponse, error)) *renewBatcher {
	return &renewBatcher{send: send, peers: map[string]*peerRenewals{}}
}

// renew renews id on node, with the renewals for node waiting with it.
func (b *renewBatcher) renew(ctx context.Context, node string, id uint64) (*api.LeasePeerEntry, error) {
	b.mu.Lock()
	p := b.peers[node]
	if p == nil {
		p = &peerRenewals{}
		b.peers[node] = p
	}
	if p.next == nil || len(p.next.ids) >= maxWave {
		if p.next != nil {
			b.mu.Unlock()
			return b.direct(ctx, node, id) // a full wave waits already: go alone
		}
		p.next = &renewWave{done: make(chan struct{})}
	}
	w := p.next
	w.ids = append(w.ids, id)
	if !p.inflight {
		p.inflight = true
		go b.flush(node, p)
	}
	b.mu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	e, ok := w.got[id]
	if !ok {
		return nil, fmt.Errorf("node %s did not answer for lease %016x", node, id)
	}
	return e, nil
}

func (b *renewBatcher) direct(ctx context.Context, node string, id uint64) (*api.LeasePeerEntry, error) {
	resp, err := b.send(ctx, node, []uint64{id})
	if err != nil {
		return nil, err
	}
	for _, e := range resp.GetEntries() {
		if e.GetLease() == id {
			return e, nil
		}
	}
	return nil, fmt.Errorf("node %s did not answer for lease %016x", node, id)
}

// flush sends node's waves one after the other until none waits.
func (b *renewBatcher) flush(node string, p *peerRenewals) {
	for {
		b.mu.Lock()
		w := p.next
		p.next = nil
		if w == nil {
			p.inflight = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
		resp, err := b.send(ctx, node, w.ids)
		cancel()
		w.err = err
		if err == nil {
			w.got = make(map[uint64]*api.LeasePeerEntry, len(resp.GetEntries()))
			for _, e := range resp.GetEntries() {
				w.got[e.GetLease()] = e
			}
		}
		close(w.done)
	}
}
