package node

import (
	"slices"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/ring"
)

// parking decides when a joiner stops holding up a change: one that gossip
// has seen down for ParkAfter, or one the change waits for whose count of
// held partitions has not moved for StuckAfter (it cannot pull: its data
// port is unreachable, its disk full), is parked (the change goes on
// without it); a parked joiner seen alive while no change is in progress
// joins again, afresh, once it has been seen alive for ParkAfter. Times are
// read from the node's clock and only their differences are used.
type parking struct {
	after, stuckAfter time.Duration
	downSince         map[string]time.Time
	progress          map[string]progress
	backSince         map[string]time.Time // parked members seen alive, since when
	clock             clock.Clock
}

// progress is a joiner's count of held partitions and when it last moved.
type progress struct {
	held  uint32
	since time.Time
}

func newParking(after, stuckAfter time.Duration, clk clock.Clock) parking {
	return parking{after: after, stuckAfter: stuckAfter, downSince: map[string]time.Time{},
		progress: map[string]progress{}, backSince: map[string]time.Time{}, clock: clk}
}

// toPark returns the joiners of ch to park now, given which nodes are
// alive, which members the change still waits for, and how many
// partitions each member holds.
func (pk *parking) toPark(ch ring.Change, notReady []string, alive func(string) bool, held func(string) uint32) []string {
	now := pk.clock.Now()
	var out []string
	down := map[string]bool{}
	waiting := map[string]bool{}
	for _, id := range ch.Joining {
		if !alive(id) {
			down[id] = true
			if _, ok := pk.downSince[id]; !ok {
				pk.downSince[id] = now
			}
			if now.Sub(pk.downSince[id]) >= pk.after {
				out = append(out, id)
				continue
			}
		}
		if !slices.Contains(notReady, id) {
			continue
		}
		waiting[id] = true
		h := held(id)
		if pr, ok := pk.progress[id]; !ok || pr.held != h {
			pk.progress[id] = progress{held: h, since: now}
		} else if now.Sub(pr.since) >= pk.stuckAfter {
			out = append(out, id)
		}
	}
	forget(pk.downSince, down)
	forget(pk.progress, waiting)
	slices.Sort(out)
	return out
}

// toUnpark returns the parked members (of parked) to take up again: those
// seen alive for ParkAfter without a break (a joiner parked while alive
// does not come straight back).
func (pk *parking) toUnpark(parked []string, alive func(string) bool) []string {
	now := pk.clock.Now()
	var out []string
	up := map[string]bool{}
	for _, id := range parked {
		if !alive(id) {
			continue
		}
		up[id] = true
		if _, ok := pk.backSince[id]; !ok {
			pk.backSince[id] = now
		}
		if now.Sub(pk.backSince[id]) >= pk.after {
			out = append(out, id)
		}
	}
	forget(pk.backSince, up)
	slices.Sort(out)
	return out
}

func forget[V any](m map[string]V, keep map[string]bool) {
	for id := range m {
		if !keep[id] {
			delete(m, id)
		}
	}
}

// parkJoiners parks the joiners that hold up change ch and takes parked
// members that are back up again once no change is in progress.
func (o *ownership) parkJoiners(ch ring.Change) {
	m := o.n.members
	doc := m.Doc()
	held := func(id string) uint32 { return doc.Members[id].Held }
	for _, id := range o.park.toPark(ch, doc.NotReady(ch), m.Alive, held) {
		switch ok, err := m.Park(id); {
		case err != nil:
			o.log.Error("cannot park a joiner", "member", id, "err", err)
		case ok:
			o.log.Warn("parked a joiner that holds up the membership change; it joins again when it is back", "member", id, "waiting", doc.NotReady(ch))
		}
	}
	var parked []string
	for id, mem := range doc.Members {
		if mem.State == ring.StateParked && !doc.Ring.Contains(id) && id != o.n.cfg.ID {
			parked = append(parked, id)
		}
	}
	back := o.park.toUnpark(parked, m.Alive)
	if ch.Pending() {
		return
	}
	for _, id := range back {
		switch ok, err := m.Unpark(id); {
		case err != nil:
			o.log.Error("cannot take up a parked member again", "member", id, "err", err)
		case ok:
			o.log.Info("taking up a parked member again", "member", id)
		}
	}
}
