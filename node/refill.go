package node

import (
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/ring"
)

// Refill: a node whose store opened as a new incarnation (a wiped disk, a
// lost WAL, an unclean stop) may have lost writes it acknowledged. Every
// partition it replicates is then *repairing*: it takes writes, but answers
// no read for the partition (NOT_READY: the coordinator asks another
// replica) until the partition is pulled again. This file is the pure core
// of that rule; ownership does the I/O.

// pullRule says when a partition being pulled is complete.
type pullRule struct {
	// quorum is how many sources must be synced at the least.
	quorum int
	// everyAlive: every source alive must be synced too (a repairing
	// partition).
	everyAlive bool
}

// pullRuleFor is the rule for partition p with replicas current replicas
// (prefs, this node among them when it is one) of a cluster of the given
// replication factor. A joiner needs ring.PullQuorum of the current
// replicas: enough to meet one replica of every QUORUM write. A repairing
// partition needs the same quorum (counting this node among the replicas:
// its own copy may be what was lost, so the others must cover W−1 copies)
// and, beyond it, every other replica that is alive: a write acknowledged at
// ONE, or by replicas that are now down, may be held by any single one of
// them, and the more it pulls from, the fewer of those it misses. A replica
// that is down cannot be waited for without blocking the node for as long
// as it stays down; the quorum is the part of the rule that is never
// waived.
func pullRuleFor(prefs int, replicas int, repairing bool) pullRule {
	return pullRule{quorum: ring.PullQuorum(prefs, replicas), everyAlive: repairing}
}

// complete reports whether a partition whose sources are sources (its
// current replicas other than this node) is pulled completely, given which
// of them are synced and which are alive.
func (r pullRule) complete(sources []string, synced, alive map[string]bool) bool {
	n := 0
	for _, s := range sources {
		if synced[s] {
			n++
		} else if r.everyAlive && alive[s] {
			return false
		}
	}
	return n >= r.quorum
}

// shortOf says what a partition synced with synced sources still lacks.
func (r pullRule) shortOf(synced int) string {
	if r.everyAlive {
		return fmt.Sprintf("repairing: synced with %d replicas; it needs every other replica that is up, and at least %d", synced, r.quorum)
	}
	return fmt.Sprintf("synced with %d of the %d replicas it needs", synced, r.quorum)
}

// refillCount is how many partitions of target (the partitions this node
// replicates in the target ring) are repairing and not held yet.
func refillCount(target, repairing, owned []bool) int {
	n := 0
	for p := range target {
		if target[p] && repairing[p] && !owned[p] {
			n++
		}
	}
	return n
}

// refillMarks lists the partitions a new incarnation repairs, by index: each
// one it replicates in ring r (nil or empty: not known yet) that has
// another replica to pull from. While the ring is not known, every
// partition: none of what the store holds can be trusted as current.
func refillMarks(r *ring.Ring, self string, partitions int) []bool {
	out := make([]bool, partitions)
	known := r != nil && r.Len() > 0
	for p := range out {
		if !known {
			out[p] = true
			continue
		}
		prefs := r.Preference(p)
		out[p] = slices.Contains(prefs, self) && len(prefs) > 1
	}
	return out
}
