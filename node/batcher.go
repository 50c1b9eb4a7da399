package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/vclock"
)

// Replication traffic to one peer is coalesced: while a batch is on the
// wire, new writes queue up and leave together in the next ApplyBatch call
// (one RPC and one fsync on the peer for all of them). Nothing waits for a
// batch to fill: an idle peer gets a write at once.
const (
	batchMax     = 256
	batchSenders = 4 // batches in flight per peer
	batchTimeout = 5 * time.Second
)

type applyReq struct {
	ctx   context.Context
	key   []byte
	clock []byte
	done  chan error
}

type peerQueue struct {
	node string
	reqs chan *applyReq
}

type batcher struct {
	t    *grpcTransport
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	queues map[string]*peerQueue
}

func newBatcher(t *grpcTransport) *batcher {
	return &batcher{t: t, stop: make(chan struct{}), queues: map[string]*peerQueue{}}
}

var errTransportClosed = errors.New("transport closed")

// apply queues one write for node and waits for its outcome.
func (b *batcher) apply(ctx context.Context, node string, key []byte, c vclock.Clock) error {
	q, err := b.queue(node)
	if err != nil {
		return err
	}
	r := &applyReq{ctx: ctx, key: key, clock: c.Marshal(), done: make(chan error, 1)}
	select {
	case q.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return errTransportClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *batcher) queue(node string) (*peerQueue, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-b.stop:
		return nil, errTransportClosed
	default:
	}
	q, ok := b.queues[node]
	if !ok {
		q = &peerQueue{node: node, reqs: make(chan *applyReq, batchMax)}
		b.queues[node] = q
		for range batchSenders {
			b.wg.Go(func() { b.send(q) })
		}
	}
	return q, nil
}

// send takes whatever is queued (at least one write) and ships it.
func (b *batcher) send(q *peerQueue) {
	for {
		var batch []*applyReq
		select {
		case <-b.stop:
			return
		case r := <-q.reqs:
			batch = append(batch, r)
		}
	drain:
		for len(batch) < batchMax {
			select {
			case r := <-q.reqs:
				batch = append(batch, r)
			default:
				break drain
			}
		}
		b.ship(q.node, batch)
	}
}

func (b *batcher) ship(node string, batch []*applyReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.ctx.Err() != nil {
			r.done <- r.ctx.Err()
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	req := &api.ApplyBatchRequest{From: b.t.self, Items: make([]*api.ApplyRequest, len(live))}
	for i, r := range live {
		req.Items[i] = &api.ApplyRequest{Key: r.key, Clock: r.clock}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	rc, err := b.t.client(node)
	var resp *api.ApplyBatchResponse
	if err == nil {
		resp, err = rc.ApplyBatch(ctx, req)
		err = fromStatus(node, err)
	}
	for i, r := range live {
		switch {
		case err != nil:
			r.done <- err
		case i < len(resp.GetErrors()) && resp.GetErrors()[i] != "":
			r.done <- errors.New(resp.GetErrors()[i])
		default:
			r.done <- nil
		}
	}
}

func (b *batcher) close() {
	b.mu.Lock()
	select {
	case <-b.stop:
	default:
		close(b.stop)
	}
	b.mu.Unlock()
	b.wg.Wait()
}
