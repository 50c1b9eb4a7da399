package ring

import (
	"slices"
	"time"
)

// Forming a new cluster from nodes that all have seeds (DNS names, LAN
// discovery, or every node listing every other): none of them may found
// the cluster at start, since the seeds it has not reached yet may
// already be one. With BootstrapExpect N, a node that knows no ring waits
// until gossip shows it N nodes of its cluster — itself included — that
// are joining and know no ring either; the one with the smallest id then
// founds the ring alone (epoch 1), and the change that takes the others
// in commits at once, since none of them holds data.

// bootstrapTick is how often a node waiting to form a cluster looks again.
const bootstrapTick = 250 * time.Millisecond

// foundsAtStart reports whether a node that knows no ring founds one at
// start: with BootstrapExpect 1, or without BootstrapExpect when it has no
// seed and no seed source.
func (m *Membership) foundsAtStart() bool {
	if m.cfg.BootstrapExpect > 0 {
		return m.cfg.BootstrapExpect == 1
	}
	return !m.hasSeeds()
}

// bootstrapSet lists the nodes that would form a cluster with self, sorted:
// self and every member of doc that is joining and alive. found reports
// that self should found the ring now: doc knows no ring, the set has at
// least expect nodes, and self has the smallest id. Pure.
func bootstrapSet(doc Doc, self string, alive func(string) bool, expect int) (ids []string, found bool) {
	if doc.Ring.Epoch != 0 || expect < 1 {
		return nil, false
	}
	for id, mem := range doc.Members {
		if mem.State == StateJoining && (id == self || alive(id)) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, len(ids) >= expect && ids[0] == self
}

// bootstrapLoop looks every bootstrapTick whether this node should found
// the cluster (bootstrapSet), and does when it saw the same set twice in a
// row (a push-pull that brings an existing ring has landed by then). It
// ends once the document holds a ring.
func (m *Membership) bootstrapLoop() {
	defer m.wg.Done()
	t := time.NewTicker(bootstrapTick)
	defer t.Stop()
	var last []string
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		doc := m.Doc()
		if doc.Ring.Epoch != 0 {
			return
		}
		ids, found := bootstrapSet(doc, m.cfg.NodeID, m.Alive, m.cfg.BootstrapExpect)
		if found && slices.Equal(ids, last) && m.found(ids) {
			return
		}
		last = ids
	}
}

// found makes this node the cluster's first member: valid, alone in the
// ring at epoch 1 (as a node started without seeds does). It reports
// whether it did: not when the document holds a ring by now or this node
// is no longer a plain joiner.
func (m *Membership) found(seen []string) bool {
	m.mu.Lock()
	cur, ok := m.doc.Members[m.cfg.NodeID]
	if m.doc.Ring.Epoch != 0 || !ok || cur.State != StateJoining {
		m.mu.Unlock()
		return false
	}
	cur.State, cur.Version = StateValid, cur.Version+1
	m.commitLocked(m.doc.With(cur).WithRing(RingRecord{Epoch: 1, Members: []string{m.cfg.NodeID}}))
	m.mu.Unlock()
	m.log.Info("founded the cluster", "expected", m.cfg.BootstrapExpect, "nodes", seen)
	m.signal()
	return true
}

// startSeedLoops starts the re-join loop, a watcher per seed source that
// signals new seeds and, while this node waits to form a cluster, the
// bootstrap loop.
func (m *Membership) startSeedLoops(joined bool) {
	for _, src := range m.cfg.SeedSources {
		if n, ok := src.(SeedNotifier); ok {
			m.wg.Add(1)
			go m.watchSeeds(n.SeedsChanged())
		}
	}
	m.wg.Add(1)
	go m.rejoinLoop(joined)
	if m.cfg.BootstrapExpect > 1 && m.Epoch() == 0 {
		m.wg.Add(1)
		go m.bootstrapLoop()
	}
}
