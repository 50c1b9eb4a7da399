package node

import (
	"context"
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/ring"
)

// runLeaseSweeps expires leases every SweepEvery until ctx ends.
func (n *Node) runLeaseSweeps(ctx context.Context) {
	t := time.NewTicker(n.cfg.Leases.SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.SweepLeases(ctx)
	}
}

// heldLeases is what one sweep found in the partitions this node
// replicates: live records, and the leases whose record is deleted while
// attachments of them are still live (an expiry that raced a put, or one
// cut short).
type heldLeases struct {
	held    []lease.Held
	ended   []lease.ID
	records map[lease.ID]lease.Record
}

// SweepLeases runs one sweep: it proposes the leases past their time for
// expiry (lease.Config.Sweep), expires those a majority of their replicas
// confirm, and finishes ended leases. It returns the leases expired.
func (n *Node) SweepLeases(ctx context.Context) int {
	v := n.members.View()
	if v.Ring == nil || len(v.Ring.Members()) == 0 {
		return 0
	}
	l := n.leases
	found, err := l.scan(n, v.Ring)
	if err != nil {
		n.log.Warn("lease sweep: reading the lease index failed", "err", err)
		return 0
	}
	found.held = n.ages(found.held)
	up, members := n.membersUp()
	verdict := l.cfg.Sweep(lease.SweepInput{Held: found.held, MembersUp: up, Members: members, Budget: int(l.limiter.Tokens())})
	n.noteSweep(len(found.held), verdict, up, members)
	expired := 0
	for _, id := range verdict.Expire {
		if !l.limiter.Allow() || ctx.Err() != nil {
			break
		}
		if n.confirmExpiry(ctx, id, found.records[id].TTL) && n.expire(ctx, id, "expired") {
			expired++
		}
	}
	if verdict.Frozen {
		return expired
	}
	for _, id := range found.ended {
		if !l.limiter.Allow() || ctx.Err() != nil {
			break
		}
		n.expire(ctx, id, "ended")
	}
	return expired
}

// findLeases reads the lease index of every partition r places on this
// node (the keys only), reads the records (cached), and notes each live lease in
// the renewal table; a deleted record's attachments are read only to see
// whether any is still live, and once found none, not again until a key of
// the lease changes.
func (n *Node) findLeases(r *ring.Ring) (heldLeases, error) {
	out := heldLeases{records: map[lease.ID]lease.Record{}}
	now := n.leases.now()
	for p := range n.cfg.Partitions {
		rank := slices.Index(r.Preference(p), n.cfg.ID)
		if rank < 0 {
			continue
		}
		var dead []lease.ID
		err := n.store.ScanLeaseIndex(p, nil, func(k []byte) error {
			id, key, err := lease.ParseKey(k)
			if err != nil || key != nil {
				return nil
			}
			st, err := n.leaseRecord(id)
			if err != nil || !st.found {
				return err
			}
			switch {
			case st.live:
				out.records[id] = st.rec
				out.held = append(out.held, lease.Held{ID: id, TTL: st.rec.TTL, Rank: rank})
			case st.ended:
				dead = append(dead, id)
			}
			return nil
		})
		if err != nil {
			return out, err
		}
		for _, id := range dead {
			if n.leases.records.isFinished(id) {
				continue
			}
			gen := n.leases.records.generation()
			keys, err := n.attachedHere(id)
			if err != nil {
				return out, err
			}
			if len(keys) > 0 {
				out.ended = append(out.ended, id)
			} else {
				n.leases.records.finish(id, gen)
			}
		}
	}
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	n.leases.table.Retain(func(id lease.ID) bool { _, ok := out.records[id]; return ok })
	for _, h := range out.held {
		n.leases.table.Seen(h.ID, now)
	}
	slices.Sort(out.ended)
	return out, nil
}

// ages fills each held lease's age from the renewal table.
func (n *Node) ages(held []lease.Held) []lease.Held {
	now := n.leases.now()
	n.leases.mu.Lock()
	defer n.leases.mu.Unlock()
	out := make([]lease.Held, 0, len(held))
	for _, h := range held {
		age, ok := n.leases.table.Age(h.ID, now)
		if !ok {
			continue // expired or revoked since the scan
		}
		h.Age = age
		out = append(out, h)
	}
	return out
}

// membersUp counts the ring's members and those this node sees up.
func (n *Node) membersUp() (up, members int) {
	for _, id := range n.members.Ring().Members() {
		members++
		if id == n.cfg.ID || n.members.Alive(id) {
			up++
		}
	}
	return up, members
}

// noteSweep records a sweep's verdict; entering and leaving
// self-preservation are logged.
func (n *Node) noteSweep(held int, v lease.Verdict, up, members int) {
	l := n.leases
	l.mu.Lock()
	defer l.mu.Unlock()
	was := l.stats.frozen
	l.stats.held, l.stats.overdue, l.stats.frozen = uint64(held), uint64(v.Due), v.Frozen
	l.stats.capped += uint64(v.Capped)
	if v.Frozen {
		l.stats.frozenSweeps++
	}
	switch {
	case v.Frozen && !was:
		n.log.Warn("lease self-preservation: this node sees no majority of members up and expires no lease",
			"up", up, "members", members, "overdue", v.Due)
	case !v.Frozen && was:
		n.log.Info("lease self-preservation over: expiring leases again", "up", up, "members", members)
	}
}

// confirmExpiry asks id's other replicas when they last saw it renewed: a
// majority must answer and none may have seen a renewal within the ttl.
func (n *Node) confirmExpiry(ctx context.Context, id lease.ID, ttl time.Duration) bool {
	replicas := n.leaseReplicas(id)
	answers, err := n.askReplicas(ctx, replicas, id, &api.LeasePeerRequest{})
	if err != nil {
		return false
	}
	votes := make([]lease.Vote, 0, len(answers))
	for _, e := range answers {
		votes = append(votes, lease.Vote{Known: e.GetKnown(), Age: time.Duration(e.GetAgeMs()) * time.Millisecond})
	}
	return lease.Confirmed(ttl, len(replicas), votes)
}

// expire ends id (endLease) and counts and logs it.
func (n *Node) expire(ctx context.Context, id lease.ID, why string) bool {
	ectx, cancel := context.WithTimeout(ctx, 4*leaseCallTimeout)
	defer cancel()
	keys, err := n.endLease(ectx, id, true)
	if err != nil {
		n.log.Warn("lease expiry failed; the next sweep tries again", "lease", id.String(), "err", err)
		return false
	}
	if why == "expired" {
		n.leases.mu.Lock()
		n.leases.stats.expired++
		n.leases.mu.Unlock()
	}
	n.log.Info("lease "+why, "lease", id.String(), "keys", keys)
	return true
}

// leaseRescanEvery: the lease index is read in full this often (and when
// the ring changes); the sweeps in between update what it found with the
// leases whose keys changed since (recordCache.dirty), so a sweep costs
// the changes, not every lease held.
const leaseRescanEvery = 10 * time.Second

// leaseScan is the leases this replica holds as the sweeps know them.
type leaseScan struct {
	ring    *ring.Ring
	at      time.Time // the last full read
	held    map[lease.ID]lease.Held
	records map[lease.ID]lease.Record
	// ended: deleted records with live attachments here, finished by the
	// sweeps.
	ended map[lease.ID]bool
}

// scan returns the leases this replica holds: a full read of the index
// when the last is older than leaseRescanEvery or the ring changed, else
// the last one updated with the leases changed since.
func (l *leases) scan(n *Node, r *ring.Ring) (heldLeases, error) {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	s := &l.scanned
	dirty := l.records.takeDirty()
	if s.ring != r || s.at.IsZero() || time.Since(s.at) >= leaseRescanEvery {
		found, err := n.findLeases(r)
		if err != nil {
			return found, err
		}
		*s = leaseScan{ring: r, at: time.Now(), held: make(map[lease.ID]lease.Held, len(found.held)),
			records: found.records, ended: map[lease.ID]bool{}}
		for _, h := range found.held {
			s.held[h.ID] = h
		}
		for _, id := range found.ended {
			s.ended[id] = true
		}
	} else {
		for id := range dirty {
			if err := n.refreshLease(s, r, id); err != nil {
				return heldLeases{}, err
			}
		}
	}
	out := heldLeases{held: make([]lease.Held, 0, len(s.held)), records: s.records}
	for _, h := range s.held {
		out.held = append(out.held, h)
	}
	for id := range s.ended {
		out.ended = append(out.ended, id)
	}
	slices.Sort(out.ended)
	return out, nil
}

// refreshLease updates s with id's state here.
func (n *Node) refreshLease(s *leaseScan, r *ring.Ring, id lease.ID) error {
	drop := func() {
		delete(s.held, id)
		delete(s.records, id)
		delete(s.ended, id)
		n.leases.mu.Lock()
		n.leases.table.Forget(id)
		n.leases.mu.Unlock()
	}
	rank := slices.Index(r.Preference(r.Partition(lease.RecordKey(id))), n.cfg.ID)
	if rank < 0 {
		drop()
		return nil
	}
	st, err := n.leaseRecord(id)
	if err != nil {
		return err
	}
	switch {
	case st.live:
		s.held[id] = lease.Held{ID: id, TTL: st.rec.TTL, Rank: rank}
		s.records[id] = st.rec
		delete(s.ended, id)
		n.leases.mu.Lock()
		n.leases.table.Seen(id, n.leases.now())
		n.leases.mu.Unlock()
	case st.ended:
		drop()
		if n.leases.records.isFinished(id) {
			return nil
		}
		gen := n.leases.records.generation()
		keys, err := n.attachedHere(id)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			s.ended[id] = true
		} else {
			n.leases.records.finish(id, gen)
		}
	default:
		drop()
	}
	return nil
}
