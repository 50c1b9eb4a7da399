package ring

import (
	"encoding/json"
	"fmt"

	"github.com/hashicorp/memberlist"
)

// delegate implements memberlist's Delegate, EventDelegate, MergeDelegate
// and AliveDelegate for a Membership. Its methods run inside memberlist
// (some under memberlist's locks): they touch only Membership's own state
// and never call back into memberlist.
type delegate struct{ m *Membership }

var (
	_ memberlist.Delegate      = delegate{}
	_ memberlist.EventDelegate = delegate{}
	_ memberlist.MergeDelegate = delegate{}
	_ memberlist.AliveDelegate = delegate{}
)

// NodeMeta returns the precomputed meta (< 300 bytes, limit is 512).
func (d delegate) NodeMeta(limit int) []byte {
	if len(d.m.meta) > limit {
		return nil // cannot happen: Validate bounds every field
	}
	return d.m.meta
}

// NotifyMsg receives a member broadcast; it is decoded here and merged by
// the inbox goroutine so the UDP receive loop never waits on the store.
func (d delegate) NotifyMsg(b []byte) {
	doc, err := decodeMsg(b, d.m.hash, d.m.cfg.Cluster)
	if err != nil {
		d.m.log.Debug("dropping gossip message", "err", err)
		return
	}
	select {
	case d.m.inbox <- doc:
	default:
		d.m.log.Debug("membership inbox full, dropping broadcast (push-pull will repair)")
	}
}

func (d delegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.m.bcast.GetBroadcasts(overhead, limit)
}

// LocalState sends the whole document on push-pull.
func (d delegate) LocalState(join bool) []byte {
	d.m.mu.Lock()
	b, err := d.m.doc.Marshal()
	d.m.mu.Unlock()
	if err != nil {
		d.m.log.Error("cannot encode member document", "err", err)
		return nil
	}
	return b
}

func (d delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 {
		return
	}
	doc, err := UnmarshalDoc(buf)
	if err != nil {
		d.m.log.Warn("ignoring malformed member document from push-pull", "err", err)
		return
	}
	d.m.mergeDoc(doc)
}

func (d delegate) NotifyJoin(n *memberlist.Node) {
	d.m.noteSeen(n)
	d.m.setAlive(n.Name, true)
}

func (d delegate) NotifyLeave(n *memberlist.Node) {
	d.m.forgetSeen(n.Name)
	d.m.setAlive(n.Name, false)
}

func (d delegate) NotifyUpdate(n *memberlist.Node) { d.m.noteSeen(n) }

// NotifyMerge refuses a join (either direction) with a node of another
// cluster.
func (d delegate) NotifyMerge(peers []*memberlist.Node) error {
	for _, p := range peers {
		if err := d.m.checkPeer(p); err != nil {
			return err
		}
		if err := d.m.admitPeer(p); err != nil {
			return err
		}
	}
	return nil
}

// NotifyAlive refuses alive messages of nodes of another cluster, so one
// never enters through gossip either.
func (d delegate) NotifyAlive(p *memberlist.Node) error {
	if err := d.m.checkPeer(p); err != nil {
		return err
	}
	return d.m.admitPeer(p)
}

func (m *Membership) checkPeer(n *memberlist.Node) error {
	nm, err := decodeMeta(n.Meta)
	if err != nil {
		return fmt.Errorf("node %q at %s: %w", n.Name, n.Address(), err)
	}
	if nm.Hash != m.hash {
		e := &ClusterMismatchError{
			Local:      m.cfg.Cluster,
			Remote:     nm.Cluster,
			RemoteHash: nm.Hash,
			Peer:       fmt.Sprintf("node %q at %s", n.Name, n.Address()),
		}
		m.mismatch.Store(e)
		return e
	}
	return nil
}

// Broadcasts: one byte of type, then JSON {"c": cluster hash, "m": member}
// (a member's entry) or {"c": cluster hash, "r": ring record} (a commit).
const (
	msgMember byte = 1
	msgRing   byte = 2
)

type memberMsg struct {
	C string `json:"c"`
	M Member `json:"m"`
}

type ringMsg struct {
	C string     `json:"c"`
	R RingRecord `json:"r"`
}

func encodeMemberMsg(hash string, mem Member) []byte {
	b, _ := json.Marshal(memberMsg{C: hash, M: mem}) // cannot fail: plain fields, valid state
	return append([]byte{msgMember}, b...)
}

func encodeRingMsg(hash string, r RingRecord) []byte {
	b, _ := json.Marshal(ringMsg{C: hash, R: r}) // cannot fail: plain fields
	return append([]byte{msgRing}, b...)
}

// decodeMsg decodes a broadcast into a one-entry (or ring-only) document of
// cluster cfg.
func decodeMsg(b []byte, hash string, cfg ClusterConfig) (Doc, error) {
	if len(b) == 0 {
		return Doc{}, fmt.Errorf("empty message")
	}
	doc := NewDoc(cfg)
	switch b[0] {
	case msgMember:
		var mm memberMsg
		if err := decodeStrict(b[1:], &mm); err != nil {
			return Doc{}, err
		}
		if mm.C != hash {
			return Doc{}, fmt.Errorf("member %q broadcast from another cluster (hash %s)", mm.M.ID, mm.C)
		}
		doc.Members[mm.M.ID] = mm.M
	case msgRing:
		var rm ringMsg
		if err := decodeStrict(b[1:], &rm); err != nil {
			return Doc{}, err
		}
		if rm.C != hash {
			return Doc{}, fmt.Errorf("ring broadcast from another cluster (hash %s)", rm.C)
		}
		doc.Ring = rm.R
	default:
		return Doc{}, fmt.Errorf("unknown message type %d", b[0])
	}
	return doc, doc.Validate()
}

// memberBroadcast is one member's latest entry; a newer entry for the same
// member replaces it in the queue.
type memberBroadcast struct {
	name string
	msg  []byte
}

func (b *memberBroadcast) Invalidates(o memberlist.Broadcast) bool {
	nb, ok := o.(memberlist.NamedBroadcast)
	return ok && nb.Name() == b.name
}
func (b *memberBroadcast) Name() string    { return b.name }
func (b *memberBroadcast) Message() []byte { return b.msg }
func (b *memberBroadcast) Finished()       {}
