package node

import (
	"sync"

	"github.com/quorumkv/quorumkv/lease"
)

// recordState is what this replica holds of a lease's record.
type recordState struct {
	rec lease.Record
	// found: the replica holds the record's key; live: a live record of
	// it; ended: only tombstones (a revoke or an expiry).
	found, live, ended bool
}

// recordCache keeps the records keep-alives and sweeps read, so a renewal
// costs no storage read. The store reports every change of a record key
// (replica.Config.OnChange), which drops the key's entry; a read that
// raced a change is not kept (gen), so an entry never outlives the state
// it was read from.
type recordCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[lease.ID]recordState
}

func newRecordCache() *recordCache { return &recordCache{m: map[lease.ID]recordState{}} }

// changed drops key's entry when key is a lease record.
func (c *recordCache) changed(key []byte) {
	if !lease.IsReserved(key) {
		return
	}
	id, attached, err := lease.ParseKey(key)
	if err != nil || attached != nil {
		return
	}
	c.mu.Lock()
	delete(c.m, id)
	c.gen++
	c.mu.Unlock()
}

// clear drops every entry (a partition left this node).
func (c *recordCache) clear() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}

// leaseRecord is this replica's state of id's record, from the cache or
// the store.
func (n *Node) leaseRecord(id lease.ID) (recordState, error) {
	c := n.leases.records
	c.mu.Lock()
	st, ok := c.m[id]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	clk, found, err := n.store.Get(lease.RecordKey(id))
	if err != nil {
		return recordState{}, err
	}
	st.found = found
	st.rec, st.live = lease.Live(clk.Live())
	st.ended = found && !st.live && clk.AllTombstones()
	c.mu.Lock()
	if c.gen == gen && found { // only held records: unknown ids cost no memory
		c.m[id] = st
	}
	c.mu.Unlock()
	return st, nil
}
