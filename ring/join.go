package ring

import (
	"strings"
	"sync"
	"time"
)

// firstRejoinDelay is the first retry after a start that reached no seed;
// the delay doubles up to RejoinInterval.
const firstRejoinDelay = time.Second

// otherSeeds drops seeds that are this node's own gossip address.
func (m *Membership) otherSeeds() []string {
	out := make([]string, 0, len(m.cfg.Seeds))
	for _, s := range m.cfg.Seeds {
		if s != m.self.Gossip && s != m.cfg.GossipAddr {
			out = append(out, s)
		}
	}
	return out
}

// joinSeeds joins every seed in parallel (memberlist's Join blocks per
// unreachable seed) and returns how many nodes answered. The error is a
// *ClusterMismatchError if a seed belongs to another cluster; other failures
// are only logged.
func (m *Membership) joinSeeds() (int, error) {
	seeds := m.otherSeeds()
	counts := make([]int, len(seeds))
	errs := make([]error, len(seeds))
	var wg sync.WaitGroup
	for i, s := range seeds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = m.list.Join([]string{s})
		}()
	}
	wg.Wait()
	joined := 0
	var mismatch error
	for i, err := range errs {
		joined += counts[i]
		if err == nil {
			continue
		}
		if e := m.mismatch.Load(); e != nil && strings.Contains(err.Error(), ErrClusterMismatch.Error()) {
			ce := *e
			ce.Peer = "seed " + seeds[i]
			mismatch = &ce
			continue
		}
		m.log.Debug("cannot join seed", "seed", seeds[i], "err", err)
	}
	return joined, mismatch
}

// rejoinLoop re-joins the seeds every RejoinInterval (memberlist does not
// re-merge after a long partition by itself); until a first join succeeds it
// retries sooner, with backoff.
func (m *Membership) rejoinLoop(joined bool) {
	defer m.wg.Done()
	if len(m.otherSeeds()) == 0 {
		return
	}
	delay := m.cfg.RejoinInterval
	if !joined {
		delay = min(firstRejoinDelay, delay)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		n, err := m.joinSeeds()
		switch {
		case err != nil:
			m.log.Error("seed refused", "err", err)
		case n == 0:
			m.log.Warn("no seed reachable", "seeds", m.cfg.Seeds)
		}
		if n > 0 {
			delay = m.cfg.RejoinInterval
		} else {
			delay = min(2*delay, m.cfg.RejoinInterval)
		}
		t.Reset(delay)
	}
}
