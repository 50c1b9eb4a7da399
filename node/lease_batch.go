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

// renewWave is one call's renewals; each renewal's answer goes to its
// caller's channel once the call is done.
type renewWave struct {
	ids  []uint64
	subs []chan<- renewAnswer
}

// renewAnswer is one replica's answer to one renewal.
type renewAnswer struct {
	entry *api.LeasePeerEntry
	err   error
}

// maxWave bounds the leases of one call (the peer refuses more).
const maxWave = 1024

func newRenewBatcher(send func(ctx context.Context, node string, ids []uint64) (*api.LeasePeerResponse, error)) *renewBatcher {
	return &renewBatcher{send: send, peers: map[string]*peerRenewals{}}
}

// renew renews id on node, with the renewals for node waiting with it, and
// sends node's answer to answers once it came (answers must have room: the
// batcher never blocks on it). It starts no goroutine of its own unless a
// full wave already waits for node.
func (b *renewBatcher) renew(node string, id uint64, answers chan<- renewAnswer) {
	b.mu.Lock()
	p := b.peers[node]
	if p == nil {
		p = &peerRenewals{}
		b.peers[node] = p
	}
	if p.next != nil && len(p.next.ids) >= maxWave {
		b.mu.Unlock()
		go b.direct(node, id, answers) // a full wave waits already: go alone
		return
	}
	if p.next == nil {
		p.next = &renewWave{}
	}
	w := p.next
	w.ids = append(w.ids, id)
	w.subs = append(w.subs, answers)
	if !p.inflight {
		p.inflight = true
		go b.flush(node, p)
	}
	b.mu.Unlock()
}

func (b *renewBatcher) direct(node string, id uint64, answers chan<- renewAnswer) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseCallTimeout)
	defer cancel()
	resp, err := b.send(ctx, node, []uint64{id})
	answers <- answerFor(node, id, resp, err)
}

// answerFor picks id's entry out of a call's response.
func answerFor(node string, id uint64, resp *api.LeasePeerResponse, err error) renewAnswer {
	if err != nil {
		return renewAnswer{err: err}
	}
	for _, e := range resp.GetEntries() {
		if e.GetLease() == id {
			return renewAnswer{entry: e}
		}
	}
	return renewAnswer{err: fmt.Errorf("node %s did not answer for lease %016x", node, id)}
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
		byID := make(map[uint64]*api.LeasePeerEntry, len(resp.GetEntries()))
		for _, e := range resp.GetEntries() {
			byID[e.GetLease()] = e
		}
		for i, id := range w.ids {
			a := renewAnswer{entry: byID[id], err: err}
			if err == nil && a.entry == nil {
				a.err = fmt.Errorf("node %s did not answer for lease %016x", node, id)
			}
			w.subs[i] <- a
		}
	}
}
