package node

import (
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/ring"
)

// parking decides when a joiner stops holding up a change: one that gossip
// has seen down for ParkAfter, or the only one not ready while everyone
// else has been for StuckAfter, is parked (the change goes on without it);
// a parked joiner seen alive while no change is in progress joins again,
// afresh. Times are this node's monotonic clock.
type parking struct {
	after, stuckAfter time.Duration
	downSince         map[string]time.Time
	stuckSince        map[string]time.Time
	now               func() time.Time
}

func newParking(after, stuckAfter time.Duration) parking {
	return parking{after: after, stuckAfter: stuckAfter, downSince: map[string]time.Time{},
		stuckSince: map[string]time.Time{}, now: time.Now}
}

// toPark returns the joiners of ch to park now, given which nodes are
// alive and which members the change still waits for.
func (pk *parking) toPark(ch ring.Change, notReady []string, alive func(string) bool) []string {
	now := pk.now()
	var out []string
	down := map[string]bool{}
	for _, id := range ch.Joining {
		if alive(id) {
			continue
		}
		down[id] = true
		if _, ok := pk.downSince[id]; !ok {
			pk.downSince[id] = now
		}
		if now.Sub(pk.downSince[id]) >= pk.after {
			out = append(out, id)
		}
	}
	forget(pk.downSince, down)
	// A joiner is stuck when it alone (with other joiners) keeps a change
	// that everyone else is ready for from committing.
	stuck := map[string]bool{}
	onlyJoiners := len(notReady) > 0 && len(notReady) < len(ch.MustBeReady())
	for _, id := range notReady {
		onlyJoiners = onlyJoiners && slices.Contains(ch.Joining, id)
	}
	if onlyJoiners {
		for _, id := range notReady {
			stuck[id] = true
			if _, ok := pk.stuckSince[id]; !ok {
				pk.stuckSince[id] = now
			}
			if now.Sub(pk.stuckSince[id]) >= pk.stuckAfter && !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	forget(pk.stuckSince, stuck)
	slices.Sort(out)
	return out
}

func forget(since map[string]time.Time, keep map[string]bool) {
	for id := range since {
		if !keep[id] {
			delete(since, id)
		}
	}
}

// parkJoiners parks the joiners that hold up change ch and takes parked
// members that are back up again once no change is in progress.
func (o *ownership) parkJoiners(ch ring.Change) {
	m := o.n.members
	doc := m.Doc()
	for _, id := range o.park.toPark(ch, doc.NotReady(ch), m.Alive) {
		if m.Park(id) {
			o.log.Warn("parked a joiner that holds up the membership change; it joins again when it is back", "member", id, "waiting", doc.NotReady(ch))
		}
	}
	if ch.Pending() {
		return
	}
	for id, mem := range doc.Members {
		if mem.State == ring.StateParked && !doc.Ring.Contains(id) && id != o.n.cfg.ID && m.Alive(id) && m.Unpark(id) {
			o.log.Info("taking up a parked member again", "member", id)
		}
	}
}
