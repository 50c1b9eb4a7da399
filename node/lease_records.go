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
	// finished: ended leases a sweep found with no live attachment here;
	// later sweeps skip them until a key of the lease changes.
	finished map[lease.ID]bool
	// dirty: leases a key of which changed since the sweeps last looked.
	dirty map[lease.ID]struct{}
}

func newRecordCache() *recordCache {
	return &recordCache{m: map[lease.ID]recordState{}, finished: map[lease.ID]bool{}, dirty: map[lease.ID]struct{}{}}
}

// changed drops key's entry when key is a lease record, and the lease's
// finished mark when key is any key of a lease; reads and scans begun
// before it are not kept (gen).
func (c *recordCache) changed(key []byte) {
	if !lease.IsReserved(key) {
		return
	}
	id, attached, err := lease.ParseKey(key)
	if err != nil {
		return
	}
	c.mu.Lock()
	delete(c.finished, id)
	if attached == nil {
		delete(c.m, id)
	}
	c.dirty[id] = struct{}{}
	c.gen++
	c.mu.Unlock()
}

// takeDirty returns the leases changed since the last call.
func (c *recordCache) takeDirty() map[lease.ID]struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dirty
	c.dirty = map[lease.ID]struct{}{}
	return d
}

// clear drops every entry (a partition left this node).
func (c *recordCache) clear() {
	c.mu.Lock()
	clear(c.m)
	clear(c.finished)
	c.gen++
	c.mu.Unlock()
}

// isFinished reports whether a sweep found ended lease id with nothing
// attached here since its keys last changed.
func (c *recordCache) isFinished(id lease.ID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished[id]
}

// finish marks ended lease id as found with nothing attached here, unless
// a key changed since gen (then the next sweep looks again).
func (c *recordCache) finish(id lease.ID, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.finished[id] = true
	}
}

// generation is the count of changes seen, for finish.
func (c *recordCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
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
