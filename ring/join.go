package ring

import (
	"slices"
	"sync"
	"time"
)

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
	return m.joinAddrs(m.otherSeeds())
}

// joinAddrs joins every address in parallel; see joinSeeds.
func (m *Membership) joinAddrs(seeds []string) (int, error) {
	before := m.mismatch.Load()
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
		if e := m.mismatch.Load(); e != nil && e != before {
			// memberlist flattens the delegate's error into text; the
			// refusal it recorded during this round says why.
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
// retries sooner, from FirstRejoinDelay doubling up to RejoinInterval.
func (m *Membership) rejoinLoop(joined bool) {
	defer m.wg.Done()
	delay := m.cfg.RejoinInterval
	if !joined {
		delay = min(m.cfg.FirstRejoinDelay, delay)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		targets := m.rejoinTargets()
		if len(targets) == 0 {
			t.Reset(m.cfg.RejoinInterval)
			continue
		}
		n, err := m.joinAddrs(targets)
		switch {
		case err != nil:
			m.log.Error("seed refused", "err", err)
		case n == 0:
			m.log.Debug("no seed or member reachable", "tried", targets)
		}
		if n > 0 {
			delay = m.cfg.RejoinInterval
		} else {
			delay = min(2*delay, m.cfg.RejoinInterval)
		}
		t.Reset(delay)
	}
}

// rejoinTargets are the seeds plus the gossip addresses of members that
// memberlist does not see alive: memberlist stops probing a node it declared
// dead, so after a partition heals each side joins the other again.
func (m *Membership) rejoinTargets() []string {
	out := m.otherSeeds()
	for id, mem := range m.Doc().Members {
		if id == m.cfg.NodeID || mem.State == StateRemoved || mem.Gossip == "" || m.Alive(id) {
			continue
		}
		if !slices.Contains(out, mem.Gossip) {
			out = append(out, mem.Gossip)
		}
	}
	return out
}
