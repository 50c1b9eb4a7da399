package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
	"github.com/quorumkv/quorumkv/vclock"
)

// readAll reads every key at ALL through a client that knows every node and
// judges each one. A key whose read keeps failing is reported in failed.
func readAll(ctx context.Context, c *cluster, m *model, keys []string, timeout time.Duration) (v verdict, failed []string, err error) {
	cl, err := client.New(c.memberAddrs(), append(c.secure.clientOptions(), client.WithAttemptTimeout(timeout), client.WithDialOptions(fastReconnect()))...)
	if err != nil {
		return v, nil, err
	}
	defer cl.Close()
	var mu sync.Mutex
	work := make(chan string)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				var res *client.GetResult
				var err error
				for attempt := range 6 {
					cctx, cancel := context.WithTimeout(ctx, timeout)
					res, err = cl.Get(cctx, []byte(k), client.WithLevel(client.All))
					cancel()
					if err == nil || errors.Is(err, client.ErrNotFound) || ctx.Err() != nil {
						break
					}
					time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
				}
				var values [][]byte
				switch {
				case err == nil:
					values = res.Values
				case errors.Is(err, client.ErrNotFound):
				default:
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %v", k, err))
					mu.Unlock()
					continue
				}
				kv := m.check("read at ALL", k, values)
				mu.Lock()
				v.add(kv)
				mu.Unlock()
			}
		}()
	}
	for _, k := range keys {
		select {
		case work <- k:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return v, failed, ctx.Err()
}

// ReplicaReport is what one replica's own storage holds, read directly from
// its Pebble directory once the servers are stopped.
type ReplicaReport struct {
	Node    string  `json:"node"`
	Keys    int     `json:"keys_checked"`
	Verdict verdict `json:"verdict"`
	Error   string  `json:"error,omitempty"`
}

// offlineReport compares the replicas' own copies.
type offlineReport struct {
	Replicas           []ReplicaReport `json:"replicas"`
	DivergentKeys      int             `json:"divergent_keys"`
	DivergentExamples  []string        `json:"divergent_examples,omitempty"`
	PartitionsCompared int             `json:"partitions_compared"`
	RootMismatches     int             `json:"merkle_root_mismatches"`
	RootsEqual         bool            `json:"merkle_roots_equal"`
	// ReapingKeys are keys whose replicas differ only in how far the
	// reaping of their tombstones has gone: no replica holds a live value
	// (one still holds tombstones another has reaped, each reaper runs on
	// its own schedule). They are not divergence; ReapingPartitions are the
	// partitions whose roots differ only by such keys.
	ReapingKeys       int `json:"reaping_keys,omitempty"`
	ReapingPartitions int `json:"reaping_partitions,omitempty"`
}

// agree reports that the replicas hold identical copies (what convergence
// means; whether the copies are right is judged per replica).
func (o offlineReport) agree() bool {
	if o.DivergentKeys > 0 || o.RootMismatches > 0 {
		return false
	}
	for _, r := range o.Replicas {
		if r.Error != "" {
			return false
		}
	}
	return true
}

// checkOffline opens every stopped member's data directory with the
// replica package, judges each key's local copy on every replica that
// should hold it (the placement of the final members), compares the copies,
// and compares the Merkle roots of every partition across the replicas of
// its preference list. Only members are read (spare slots are nodes that
// left, with what they held then).
func checkOffline(c *cluster, m *model, keys []string, partitions, replicas int, members []int) (offlineReport, error) {
	var rep offlineReport
	placement, err := ring.Build(ring.ClusterConfig{Partitions: partitions, Replicas: replicas}, c.idsOf(members), nil)
	if err != nil {
		return rep, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	stores := map[string]*replica.Store{}
	defer func() {
		for _, s := range stores {
			_ = s.Close()
		}
	}()
	for _, i := range members {
		p := c.procs[i]
		s, err := replica.Open(replica.Config{NodeID: p.id, Dir: p.dataDir, Partition: placement.Partition, Logger: quiet})
		if err != nil {
			rep.Replicas = append(rep.Replicas, ReplicaReport{Node: p.id, Error: err.Error()})
			continue
		}
		stores[p.id] = s
		rep.Replicas = append(rep.Replicas, ReplicaReport{Node: p.id})
	}
	idx := map[string]int{}
	for i, r := range rep.Replicas {
		idx[r.Node] = i
	}
	reaping := map[int]bool{}
	for _, k := range keys {
		part := placement.Partition([]byte(k))
		prefs := placement.Preference(part)
		var first vclock.Clock
		var firstNode string
		for _, id := range prefs {
			s := stores[id]
			if s == nil {
				continue
			}
			r := &rep.Replicas[idx[id]]
			clk, _, err := s.Get([]byte(k))
			if err != nil {
				r.Error = err.Error()
				continue
			}
			r.Keys++
			kv := m.check("replica "+id, k, clk.Live())
			if len(r.Verdict.Examples) >= 5 {
				kv.Examples = nil
			}
			r.Verdict.add(kv)
			if firstNode == "" {
				first, firstNode = clk, id
			} else if !clk.Equal(first) && len(clk.Live()) == 0 && len(first.Live()) == 0 {
				rep.ReapingKeys++
				reaping[part] = true
			} else if !clk.Equal(first) {
				rep.DivergentKeys++
				if len(rep.DivergentExamples) < 10 {
					rep.DivergentExamples = append(rep.DivergentExamples, fmt.Sprintf("%s: %s has %q, %s has %q", k, firstNode, first.Live(), id, clk.Live()))
				}
			}
		}
	}
	for p := range partitions {
		prefs := placement.Preference(p)
		var roots []uint64
		for _, id := range prefs {
			if s := stores[id]; s != nil {
				roots = append(roots, s.Trees().Root(p))
			}
		}
		if len(roots) < 2 {
			continue
		}
		rep.PartitionsCompared++
		for _, r := range roots[1:] {
			if r != roots[0] && reaping[p] {
				rep.ReapingPartitions++
				break
			}
			if r != roots[0] {
				rep.RootMismatches++
				break
			}
		}
	}
	rep.RootsEqual = rep.RootMismatches == 0 && len(stores) == len(members)
	return rep, nil
}
