package ring

// Doc exchange and change notification: merging remote documents,
// committing (persist, broadcast, ring swap) and the helper goroutines.

import (
	"slices"

	"github.com/hashicorp/memberlist"
)

func (m *Membership) inboxLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case d := <-m.inbox:
			m.mergeDoc(d)
		}
	}
}

func (m *Membership) notifyLoop() {
	defer m.wg.Done()
	for {
		select {
		case <-m.stop:
			return
		case <-m.changed:
		}
		m.cbMu.Lock()
		fns := slices.Clone(m.callbacks)
		m.cbMu.Unlock()
		for _, fn := range fns {
			fn()
		}
	}
}

func (m *Membership) signal() {
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

func (m *Membership) stopLoops() {
	close(m.stop)
	m.cancel()
	m.wg.Wait()
}

func (m *Membership) setAlive(name string, alive bool) {
	if name == m.cfg.NodeID {
		return
	}
	m.aliveMu.Lock()
	was := m.alive[name]
	if alive {
		m.alive[name] = true
	} else {
		delete(m.alive, name)
	}
	m.aliveMu.Unlock()
	if was != alive {
		if alive {
			m.numAlive.Add(1)
		} else {
			m.numAlive.Add(-1)
		}
		m.signal()
	}
}

// mergeDoc merges a remote document (or one member of it) into ours.
func (m *Membership) mergeDoc(o Doc) {
	if o.Cluster != m.cfg.Cluster {
		m.log.Warn("ignoring member document of another cluster", "theirs", o.Cluster, "ours", m.cfg.Cluster)
		return
	}
	o = m.admissible(o)
	m.mu.Lock()
	merged, changed := m.doc.Merge(o)
	if changed {
		// Someone may hold an older picture of us (a wiped store, a move):
		// whatever wins the merge, our addresses, readiness and emptiness
		// are what we say they are.
		if cur, ok := merged.Members[m.cfg.NodeID]; ok && !sameSelf(cur, m.self) {
			merged = merged.With(withSelf(cur, m.self))
		}
		merged = m.rejoinLocked(o, merged)
		m.commitLocked(merged)
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
}

// rejoinLocked: a node that started as a fresh joiner does not remember a
// removal it may have been through before (its disk was wiped); when a
// peer's document says it is removed, it joins again over that removal.
// A peer's entry that shows it leaving is the removal of what it was
// before it started (it cannot have left since: it has not joined), so the
// node waits for that removal to finish and then joins again. Once a
// peer's document shows it joining, valid or parked, or a committed ring
// holds it (commitLocked), a removal is the operator's and stands. m.mu
// must be held.
func (m *Membership) rejoinLocked(theirs, merged Doc) Doc {
	if !m.rejoining {
		return merged
	}
	id := m.cfg.NodeID
	if t, ok := theirs.Members[id]; ok && t.State != StateRemoved && t.State != StateLeaving {
		m.rejoining = false
		return merged
	}
	cur, ok := merged.Members[id]
	if !ok || cur.State != StateRemoved || merged.Ring.Contains(id) {
		return merged
	}
	cur.State, cur.Version = StateJoining, cur.Version+1
	cur.Gen = cur.Version
	m.log.Info("joining again over a removal from before this node started", "version", cur.Version)
	return merged.With(cur)
}

// commitLocked installs d: persists it, broadcasts the changed entries and
// ring record, and rebuilds the rings if their member sets changed. m.mu
// must be held.
func (m *Membership) commitLocked(d Doc) {
	old := m.doc
	m.doc = d
	if d.Ring.Contains(m.cfg.NodeID) && d.Members[m.cfg.NodeID].State != StateLeaving {
		// Its join is committed: a removal from now on is an operator's.
		// (A ring that holds it leaving is the removal of what it was
		// before it started; rejoinLocked waits for that.)
		m.rejoining = false
	}
	if err := saveDoc(m.cfg.Store, d); err != nil {
		m.log.Error("cannot persist member document", "err", err)
	}
	for id, mem := range d.Members {
		if old.Members[id] != mem {
			m.bcast.QueueBroadcast(&memberBroadcast{name: "member/" + id, msg: encodeMemberMsg(m.hash, mem)})
		}
	}
	if !d.Ring.equal(old.Ring) {
		m.bcast.QueueBroadcast(&memberBroadcast{name: "ring", msg: encodeRingMsg(m.hash, d.Ring)})
	}
	m.installRings(d)
}

// installRings swaps in the current and target rings of d (rebuilt only
// when their member sets changed) and the view that goes with them.
func (m *Membership) installRings(d Doc) {
	var oldCur, oldTgt *Ring
	if v := m.view.Load(); v != nil {
		oldCur, oldTgt = v.Ring, v.Target
	}
	cur := m.rebuild(oldCur, d.RingMembers(), d.RingZones())
	tgt := m.rebuild(oldTgt, d.TargetMembers(), d.TargetZones())
	if cur.same(tgt.members, tgt.zones) {
		tgt = cur
	}
	if oldCur != cur {
		m.log.Info("ring changed", "epoch", d.Ring.Epoch, "members", cur.members)
	}
	if oldTgt != tgt && tgt != cur {
		m.log.Info("target ring changed", "members", tgt.members)
	}
	m.view.Store(&View{Epoch: d.Ring.Epoch, Ring: cur, Target: tgt})
}

// rebuild returns old if it already has ids as members in zones, else a
// new ring.
func (m *Membership) rebuild(old *Ring, ids []string, zones Zones) *Ring {
	if old != nil && old.same(ids, zones) {
		return old
	}
	r, err := Build(m.cfg.Cluster, ids, zones)
	if err != nil {
		m.log.Error("cannot build ring", "members", ids, "err", err)
		if old != nil {
			return old
		}
		r, _ = Build(m.cfg.Cluster, nil, nil)
	}
	return r
}

// noteSeen copies what memberlist reports of node n (its data address from
// the meta), for Candidates. It runs in memberlist's callbacks, under the
// lock that guards n.
func (m *Membership) noteSeen(n *memberlist.Node) {
	if n.Name == m.cfg.NodeID {
		return
	}
	nm, err := decodeMeta(n.Meta)
	if err != nil || nm.Hash != m.hash {
		return
	}
	c := Candidate{ID: n.Name, Addr: nm.Addr, Gossip: n.Address()}
	m.aliveMu.Lock()
	m.seen[n.Name] = c
	m.aliveMu.Unlock()
}

// forgetSeen drops a node memberlist reports gone.
func (m *Membership) forgetSeen(name string) {
	m.aliveMu.Lock()
	delete(m.seen, name)
	m.aliveMu.Unlock()
}
