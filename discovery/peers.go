package discovery

import (
	"slices"
	"time"
)

// peerTable holds the peers heard on the LAN, by node id: at most max of
// them, each forgotten ttl after it was last heard. Pure: the caller
// passes the time.
type peerTable struct {
	max   int
	ttl   time.Duration
	peers map[string]heardPeer
}

type heardPeer struct {
	gossip string
	heard  time.Time
}

func newPeerTable(max int, ttl time.Duration) *peerTable {
	return &peerTable{max: max, ttl: ttl, peers: map[string]heardPeer{}}
}

// observe records that node id announced gossip at now. It reports
// whether the seeds changed (a node not held, or one at a new address),
// and full when the table had no room for a new node (it is left out).
func (t *peerTable) observe(id, gossip string, now time.Time) (changed, full bool) {
	cur, ok := t.peers[id]
	if !ok {
		t.expire(now)
		if len(t.peers) >= t.max {
			return false, true
		}
	}
	t.peers[id] = heardPeer{gossip: gossip, heard: now}
	return !ok || cur.gossip != gossip, false
}

// expire forgets the peers not heard for ttl.
func (t *peerTable) expire(now time.Time) {
	for id, p := range t.peers {
		if now.Sub(p.heard) > t.ttl {
			delete(t.peers, id)
		}
	}
}

// seeds returns the gossip addresses of the peers heard within ttl of now,
// sorted and once each.
func (t *peerTable) seeds(now time.Time) []string {
	out := make([]string, 0, len(t.peers))
	for _, p := range t.peers {
		if now.Sub(p.heard) <= t.ttl {
			out = append(out, p.gossip)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
