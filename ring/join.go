package ring

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"
)

// isSelf reports whether addr is this node's own gossip address.
func (m *Membership) isSelf(addr string) bool {
	return addr == m.self.Gossip || addr == m.cfg.GossipAddr
}

// otherSeeds drops the configured seeds that are this node's own gossip
// address.
func (m *Membership) otherSeeds() []string {
	out := make([]string, 0, len(m.cfg.Seeds))
	for _, s := range m.cfg.Seeds {
		if !m.isSelf(s) {
			out = append(out, s)
		}
	}
	return out
}

// hasSeeds reports whether this node has, or may find, seeds other than
// itself.
func (m *Membership) hasSeeds() bool {
	return len(m.otherSeeds()) > 0 || len(m.cfg.SeedSources) > 0
}

// foundSeeds asks every seed source (each call bounded by SeedTimeout) and
// returns, sorted and once each, the seeds that are neither this node nor
// a member memberlist sees alive (joining those again would only repeat a
// push-pull). The error joins what the sources reported.
func (m *Membership) foundSeeds() ([]string, error) {
	if len(m.cfg.SeedSources) == 0 {
		return nil, nil
	}
	alive := m.aliveGossip()
	var out []string
	var errs []error
	for _, src := range m.cfg.SeedSources {
		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.SeedTimeout)
		seeds, err := src.Seeds(ctx)
		cancel()
		errs = append(errs, err)
		for _, s := range seeds {
			if !m.isSelf(s) && !alive[s] && checkHostPort("seed", s, false) == nil {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), errors.Join(errs...)
}

// aliveGossip is the set of gossip addresses the document gives the
// members memberlist sees alive, this node's included. (memberlist's own
// node records are not read: it updates them without a lock we can take.)
func (m *Membership) aliveGossip() map[string]bool {
	out := map[string]bool{m.self.Gossip: true}
	for id, mem := range m.Doc().Members {
		if mem.Gossip != "" && m.Alive(id) {
			out[mem.Gossip] = true
		}
	}
	return out
}

// startTargets are what a starting node joins: its configured seeds and
// what its seed sources find.
func (m *Membership) startTargets() ([]string, error) {
	found, err := m.foundSeeds()
	return appendNew(m.otherSeeds(), found...), err
}

// appendNew appends the addresses of add that out does not hold yet.
func appendNew(out []string, add ...string) []string {
	for _, a := range add {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// joinAddrs joins every address in parallel (memberlist's Join blocks per
// unreachable seed) and returns how many nodes answered. The error is a
// *ClusterMismatchError if a seed belongs to another cluster; other
// failures are only logged.
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
// re-merge after a long partition by itself); until a first join succeeds
// it retries sooner, from FirstRejoinDelay doubling up to RejoinInterval.
// A seed source that signals new seeds starts a round at once.
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
		case <-m.newSeeds:
		}
		targets, serr := m.rejoinTargets()
		if len(targets) == 0 {
			m.logSeedErr(serr, false)
			delay = min(2*delay, m.cfg.RejoinInterval)
			t.Reset(delay)
			continue
		}
		n, err := m.joinAddrs(targets)
		m.logSeedErr(serr, n > 0)
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

// logSeedErr logs what a seed source could not find: a warning while this
// node reached no seed and sees no other node alive, a debug line
// otherwise.
func (m *Membership) logSeedErr(err error, joined bool) {
	switch {
	case err == nil:
	case joined || m.numAlive.Load() > 1:
		m.log.Debug("seed source", "err", err)
	default:
		m.log.Warn("seed source found no seed yet; retrying", "err", err)
	}
}

// rejoinTargets are the configured seeds, the seeds the sources find now,
// and the gossip addresses of members that memberlist does not see alive:
// memberlist stops probing a node it declared dead, so after a partition
// heals each side joins the other again.
func (m *Membership) rejoinTargets() ([]string, error) {
	out, err := m.startTargets()
	for id, mem := range m.Doc().Members {
		if id == m.cfg.NodeID || mem.State == StateRemoved || mem.Gossip == "" || m.Alive(id) {
			continue
		}
		out = appendNew(out, mem.Gossip)
	}
	return out, err
}

// watchSeeds forwards a seed source's signals to the re-join loop until
// the membership stops.
func (m *Membership) watchSeeds(ch <-chan struct{}) {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			select {
			case m.newSeeds <- struct{}{}:
			default:
			}
		}
	}
}
