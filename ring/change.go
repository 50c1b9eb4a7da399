package ring

import "slices"

// Change is the membership change a document calls for: from the
// committed ring to the target ring, at the committed ring's epoch. It is
// pure: the same document always gives the same change.
type Change struct {
	Epoch uint64
	From  []string // the committed ring
	To    []string // the target ring
	// Joining are To's members not in From.
	Joining []string
	// Leaving are From's members asked to leave: they hand their data off
	// and must say they have before the change commits.
	Leaving []string
	// Removing are From's members asked to be removed (dead): the others
	// restore their data; nobody waits for them.
	Removing []string
}

// Change returns the change d calls for (none when To equals From).
func (d Doc) Change() Change {
	c := Change{Epoch: d.Ring.Epoch, From: d.RingMembers(), To: d.TargetMembers()}
	for _, id := range c.To {
		if !d.Ring.Contains(id) {
			c.Joining = append(c.Joining, id)
		}
	}
	for _, id := range c.From {
		if slices.Contains(c.To, id) {
			continue
		}
		if d.Members[id].State == StateRemoved {
			c.Removing = append(c.Removing, id)
		} else {
			c.Leaving = append(c.Leaving, id)
		}
	}
	return c
}

// Pending reports a change in progress.
func (c Change) Pending() bool { return !slices.Equal(c.From, c.To) }

// Signature names the target ring (what members declare ready for).
func (c Change) Signature() string { return Signature(c.To) }

// MustBeReady lists the members whose readiness the change waits for: the
// target ring's members and the leaving ones.
func (c Change) MustBeReady() []string {
	out := append(slices.Clone(c.To), c.Leaving...)
	slices.Sort(out)
	return out
}

// IsReady reports whether member id declared itself ready for c.
func (d Doc) IsReady(id string, c Change) bool {
	m, ok := d.Members[id]
	return ok && m.ReadyEpoch == c.Epoch && m.Ready == c.Signature()
}

// NotReady lists the members c still waits for.
func (d Doc) NotReady(c Change) []string {
	var out []string
	for _, id := range c.MustBeReady() {
		if !d.IsReady(id, c) {
			out = append(out, id)
		}
	}
	return out
}

// nothingToMove reports that every member of the committed ring says it
// holds no data: a change then moves nothing.
func (d Doc) nothingToMove(c Change) bool {
	for _, id := range c.From {
		if m, ok := d.Members[id]; !ok || !m.Empty {
			return false
		}
	}
	return len(c.From) > 0
}

// NextRing returns the ring to commit, if the change d calls for can be
// committed now: every member it waits for is ready at the current epoch,
// except those in unmoved (members that replicate the same partitions in
// both rings: the change asks nothing of them, so one that is down holds
// no change up). While the committed ring holds no data at all (a cluster
// forming), joiners and members that say they hold none are not waited
// for either: they have nothing to pull or transfer out, so a fresh cluster
// forms at once and a node that dies while it forms is simply a down
// member. The new record's epoch is one more. A document with no
// committed ring yet (a node that has not reached its cluster) never
// commits.
func (d Doc) NextRing(unmoved []string) (RingRecord, bool) {
	c := d.Change()
	if !c.Pending() || c.Epoch == 0 || len(c.To) == 0 {
		return RingRecord{}, false
	}
	empty := d.nothingToMove(c)
	for _, id := range d.NotReady(c) {
		if slices.Contains(unmoved, id) {
			continue
		}
		if !empty || (!slices.Contains(c.Joining, id) && !d.Members[id].Empty) {
			return RingRecord{}, false
		}
	}
	return RingRecord{Epoch: c.Epoch + 1, Members: slices.Clone(c.To), Zones: d.TargetZones()}, true
}

// RingZones returns the zones the committed ring places its members by.
func (d Doc) RingZones() Zones { return memberZones(d.Ring.Members, d.Ring.Zones) }

// TargetZones returns the zones of the target ring's members: a committed
// member keeps the zone the ring recorded for it, a joiner brings the one
// its entry gives.
func (d Doc) TargetZones() Zones { return d.ZonesFor(d.TargetMembers()) }

// ZonesFor returns the zones members ids would be placed by in a ring
// following the committed one: the recorded zone of a committed member,
// the entry's zone of any other.
func (d Doc) ZonesFor(ids []string) Zones {
	zones := Zones{}
	for _, id := range ids {
		if d.Ring.Contains(id) {
			zones[id] = d.Ring.Zones[id]
		} else {
			zones[id] = d.Members[id].Zone
		}
	}
	return memberZones(ids, zones)
}

// Unmoved lists the members of both rings that replicate exactly the same
// partitions in each (in a ring of at most N members every member
// replicates every partition, so a third member joining two moves neither).
func Unmoved(from, to *Ring) []string {
	var out []string
	for _, id := range from.members {
		if to.Contains(id) && samePartitions(from, to, id) {
			out = append(out, id)
		}
	}
	return out
}

func samePartitions(a, b *Ring, id string) bool {
	if a.cfg.Partitions != b.cfg.Partitions {
		return false
	}
	for p := range a.cfg.Partitions {
		if a.IsReplica(p, id) != b.IsReplica(p, id) {
			return false
		}
	}
	return true
}

// Committed returns d with r installed as the committed ring and the
// entries brought in line with it: members now in the ring that were
// joining (or parked) become valid, members now out of it that were
// leaving (or valid) become removed. Versions are bumped on the entries
// it changes. r must be newer than d's ring.
func (d Doc) Committed(r RingRecord) Doc {
	out := d.WithRing(r)
	for id, m := range d.Members {
		in, was := out.Ring.Contains(id), d.Ring.Contains(id)
		switch {
		case in && (m.State == StateJoining || m.State == StateParked):
			m.State, m.Version = StateValid, m.Version+1
		case !in && was && m.State != StateRemoved:
			m.State, m.Version = StateRemoved, m.Version+1
		default:
			continue
		}
		out.Members[id] = m
	}
	return out
}

// PullQuorum is how many of a partition's n current replicas a node that
// gains the partition must have synced with before it counts as holding
// it: enough to meet every replica that acknowledged a QUORUM write of a
// cluster with the given replication factor (n − W + 1, W = ⌊replicas/2⌋+1
// capped at n), at least one.
func PullQuorum(n, replicas int) int {
	w := min(n, replicas/2+1)
	return max(1, n-w+1)
}
