package ring

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Admission: with MembershipConfig.VerifyNode set (a TLS cluster), a node takes
// gossip about another node only once that node has proved who it is —
// VerifyNode checked it at its data address (a TLS handshake showing a node
// certificate of the cluster's CA for its id) — or when the node is a
// member of the document already. Until then its alive messages and joins
// are refused and document entries and ring records naming it are left
// out of merges, so a server holding the gossip key but no certificate of
// the cluster never appears in the ring.

// admitTimeout bounds one VerifyNode check; admitRetry is the least time
// before a node that failed it is checked again.
const (
	admitTimeout = 3 * time.Second
	admitRetry   = 5 * time.Second
)

// errNotAdmitted refuses gossip from a node not (yet) admitted.
var errNotAdmitted = errors.New("not admitted yet: its identity is being checked")

// admission tracks the nodes VerifyNode accepted, by id and data address.
type admission struct {
	mu       sync.Mutex
	verified map[string]string    // id -> data address admitted
	checking map[string]bool      // id -> a check is running
	failedAt map[string]time.Time // id -> when its last check failed
}

// admitted reports whether gossip about node id at data address addr may
// be taken: a document member at that address, or one VerifyNode accepted. An
// unknown node is checked in the background.
func (m *Membership) admitted(id, addr string) bool {
	if m.cfg.VerifyNode == nil || id == m.cfg.NodeID {
		return true
	}
	m.mu.Lock()
	known, ok := m.doc.Members[id]
	m.mu.Unlock()
	if ok && (addr == "" || known.Addr == addr) {
		return true
	}
	a := &m.admit
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verified[id] == addr && addr != "" {
		return true
	}
	if addr == "" || a.checking[id] || time.Since(a.failedAt[id]) < admitRetry {
		return false
	}
	select {
	case <-m.stop:
		return false
	default:
	}
	if a.verified == nil {
		a.verified, a.checking, a.failedAt = map[string]string{}, map[string]bool{}, map[string]time.Time{}
	}
	a.checking[id] = true
	m.wg.Add(1)
	go m.check(id, addr)
	return false
}

// check runs VerifyNode for id at addr and records the outcome.
func (m *Membership) check(id, addr string) {
	defer m.wg.Done()
	ctx, cancel := context.WithTimeout(context.Background(), admitTimeout)
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := m.cfg.VerifyNode(ctx, id, addr)
	a := &m.admit
	a.mu.Lock()
	delete(a.checking, id)
	if err == nil {
		a.verified[id] = addr
		delete(a.failedAt, id)
	} else {
		a.failedAt[id] = time.Now()
	}
	a.mu.Unlock()
	if err != nil {
		m.log.Warn("refusing gossip from a node that did not prove its identity", "node", id, "addr", addr, "err", err)
	}
}

// admitPeer refuses a memberlist peer not admitted.
func (m *Membership) admitPeer(n *memberlist.Node) error {
	nm, err := decodeMeta(n.Meta)
	if err != nil {
		return err
	}
	if !m.admitted(n.Name, nm.Addr) {
		return fmt.Errorf("node %q at %s: %w", n.Name, n.Address(), errNotAdmitted)
	}
	return nil
}

// admissible drops from o the entries of nodes not admitted, and its ring
// record if that names one.
func (m *Membership) admissible(o Doc) Doc {
	if m.cfg.VerifyNode == nil {
		return o
	}
	var out *Doc
	for id, mem := range o.Members {
		if m.admitted(id, mem.Addr) {
			continue
		}
		if out == nil {
			c := o.Clone()
			out = &c
		}
		delete(out.Members, id)
	}
	if out == nil {
		return o
	}
	for _, id := range out.Ring.Members {
		if _, ok := out.Members[id]; !ok {
			m.mu.Lock()
			out.Ring = m.doc.Ring.clone()
			m.mu.Unlock()
			break
		}
	}
	return *out
}
