package node

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
)

// Change log reads (replica.Store.ReadLog) for watches, served to peers and
// to this node's own watches.

const (
	// logReadLimit bounds the entries of one log read.
	logReadLimit = 512
	// logWaitMax bounds how long a log read waits for an entry.
	logWaitMax = 10 * time.Second
)

// readLog reads this node's log of req's partition, waiting up to
// req.WaitMs for an entry when there is none.
func (n *Node) readLog(ctx context.Context, req *api.ReadLogRequest) (*api.ReadLogResponse, error) {
	p := int(req.GetPartition())
	if p >= n.cfg.Partitions {
		return nil, status.Errorf(codes.InvalidArgument, "partition %d out of range [0, %d)", p, n.cfg.Partitions)
	}
	limit := min(int(req.GetLimit()), logReadLimit)
	wait := min(time.Duration(req.GetWaitMs())*time.Millisecond, logWaitMax)
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		grew := n.store.LogGrew(p, req.GetAfter())
		r, err := n.store.ReadLog(p, req.GetAfter(), limit)
		resp := &api.ReadLogResponse{Floor: r.Floor, Last: r.Last, Incarnation: r.Incarnation}
		switch {
		case errors.Is(err, replica.ErrLogCompacted):
			resp.Compacted = true
			return resp, nil
		case err != nil:
			return nil, peer.ToStatus(err)
		case len(r.Entries) > 0 || limit == 0 || timeout == nil:
			for _, e := range r.Entries {
				le := &api.LogEntry{Seq: e.Seq, Key: e.Key}
				if e.Found {
					le.Clock = e.Clock.Marshal()
				}
				resp.Entries = append(resp.Entries, le)
			}
			return resp, nil
		}
		select {
		case <-grew:
		case <-timeout:
			return resp, nil
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		case <-n.draining:
			return resp, nil
		}
	}
}

// ReadLog serves a peer's read of this node's change log.
func (s *replicaServer) ReadLog(ctx context.Context, req *api.ReadLogRequest) (*api.ReadLogResponse, error) {
	return s.n.readLog(ctx, req)
}

// readLogOn reads node's change log (this node's own without the network).
func (n *Node) readLogOn(ctx context.Context, node string, req *api.ReadLogRequest) (*api.ReadLogResponse, error) {
	if node == n.cfg.ID {
		return n.readLog(ctx, req)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Duration(req.GetWaitMs())*time.Millisecond+leaseCallTimeout)
	defer cancel()
	return n.transport.ReadLog(cctx, node, req)
}

// runLogTrims trims every partition's change log to WatchLogRetain entries
// every interval until ctx ends.
func (n *Node) runLogTrims(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for p := range n.cfg.Partitions {
			if err := n.store.TrimLog(p, uint64(n.cfg.WatchLogRetain)); err != nil && ctx.Err() == nil {
				n.log.Warn("trimming the change log failed", "partition", p, "err", err)
			}
		}
	}
}
