package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

// Renewals for one peer that arrive while a call is in flight go together
// in the next call, and each gets its own answer.
func TestRenewBatcherCoalesces(t *testing.T) {
	var calls, ids atomic.Int64
	release := make(chan struct{})
	b := newRenewBatcher(func(_ context.Context, _ string, batch []uint64) (*api.LeasePeerResponse, error) {
		if calls.Add(1) == 1 {
			<-release // the first call stays in flight while the others queue
		}
		ids.Add(int64(len(batch)))
		resp := &api.LeasePeerResponse{}
		for _, id := range batch {
			resp.Entries = append(resp.Entries, &api.LeasePeerEntry{Lease: id, Known: true, TtlMs: id})
		}
		return resp, nil
	})
	renew := func(id uint64) (*api.LeasePeerEntry, error) {
		answers := make(chan renewAnswer, 1)
		b.renew("n2", id, answers)
		a := <-answers
		return a.entry, a.err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if e, err := renew(1); err != nil || e.GetTtlMs() != 1 {
			t.Errorf("renewal 1: %v %v", e, err)
		}
	})
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond) // until the first call is in flight
	}
	for id := uint64(2); id <= 50; id++ {
		wg.Go(func() {
			if e, err := renew(id); err != nil || e.GetTtlMs() != id {
				t.Errorf("renewal %d: %v %v", id, e, err)
			}
		})
	}
	for {
		b.mu.Lock()
		queued := 0
		if p := b.peers["n2"]; p != nil && p.next != nil {
			queued = len(p.next.ids)
		}
		b.mu.Unlock()
		if queued == 49 {
			break
		}
		time.Sleep(time.Millisecond) // until every renewal waits
	}
	close(release)
	wg.Wait()
	if calls.Load() != 2 || ids.Load() != 50 {
		t.Fatalf("%d calls carried %d renewals, want 2 calls and 50", calls.Load(), ids.Load())
	}
}
