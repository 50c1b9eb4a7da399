package ring

// Doc exchange and change notification: merging remote documents,
// committing (persist, broadcast, ring swap) and the helper goroutines.

import (
	"slices"
	"sync/atomic"
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
	m.mu.Lock()
	merged, changed := m.doc.Merge(o)
	if changed {
		// Someone may hold an older picture of us (a wiped store, a move):
		// whatever wins the merge, our addresses are what we say they are.
		if cur, ok := merged.Members[m.cfg.NodeID]; ok && !sameSelf(cur, m.self) {
			self := m.self
			self.State, self.Version = cur.State, cur.Version+1
			merged = merged.With(self)
		}
		m.commitLocked(merged)
	}
	m.mu.Unlock()
	if changed {
		m.signal()
	}
}

// commitLocked installs d: persists it, broadcasts changed entries and
// rebuilds the ring if its member set changed. m.mu must be held.
func (m *Membership) commitLocked(d Doc) {
	old := m.doc
	m.doc = d
	if err := saveDoc(m.cfg.Store, d); err != nil {
		m.log.Error("cannot persist member document", "err", err)
	}
	for id, mem := range d.Members {
		if old.Members[id] != mem {
			m.bcast.QueueBroadcast(&memberBroadcast{name: "member/" + id, msg: encodeMemberMsg(m.hash, mem)})
		}
	}
	m.rebuild(&m.ring, d.RingMembers(), "ring changed")
	m.rebuild(&m.target, d.TargetMembers(), "target ring changed")
}

// rebuild swaps in a ring of ids if they differ from the ring in p.
func (m *Membership) rebuild(p *atomic.Pointer[Ring], ids []string, msg string) {
	if slices.Equal(ids, p.Load().members) {
		return
	}
	r, err := Build(m.cfg.Cluster, ids)
	if err != nil {
		m.log.Error("cannot build ring", "members", ids, "err", err)
		return
	}
	p.Store(r)
	m.log.Info(msg, "members", ids)
}
