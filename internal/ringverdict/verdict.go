package ringverdict

import (
	"fmt"
	"strings"
)

// Member is what the verdict needs of one member of the ring.
type Member struct {
	ID string
	// Up: the answering node sees the member alive.
	Up bool
	// State is the member's ring state by name: joining, valid, leaving
	// or parked.
	State string
	// DiskFull: the member refuses writes to its own store.
	DiskFull bool
	// Repairing is how many partitions the member is refilling after it
	// lost data.
	Repairing int
}

// Line is the verdict on members for a ring of replicas copies with
// transfers partitions moving, like riak-admin's line under its status
// table ("3 up, 0 down, 0 joining, 0 leaving — healthy"), with the members
// whose disk is full (they take no writes).
func Line(members []Member, replicas, transfers int) string {
	line := ringLine(members, replicas, transfers)
	var full []string
	for _, m := range members {
		if m.DiskFull {
			full = append(full, m.ID)
		}
	}
	switch {
	case len(full) == 0:
		return line
	case strings.HasSuffix(line, " — healthy"):
		line = strings.TrimSuffix(line, " — healthy") + " — degraded for writes"
	}
	return line + fmt.Sprintf("; disk full on %s (writes go to the other replicas)", strings.Join(full, ", "))
}

// ringLine is the verdict on members' liveness and the ring's shape.
func ringLine(members []Member, n, transfers int) string {
	var up, down, joining, leaving, valid, parked, downInRing int
	for _, m := range members {
		if m.Up {
			up++
		} else {
			down++
		}
		switch m.State {
		case "joining":
			joining++
		case "leaving":
			leaving++
		case "valid":
			valid++
		case "parked":
			parked++
		}
		if !m.Up && (m.State == "valid" || m.State == "leaving") {
			downInRing++
		}
	}
	line := fmt.Sprintf("%d up, %d down, %d joining, %d leaving", up, down, joining, leaving)
	if parked > 0 {
		line += fmt.Sprintf(", %d parked", parked)
	}
	if transfers > 0 {
		line += fmt.Sprintf(", %d partitions moving", transfers)
	}
	inRing := valid + leaving
	repairing := repairingNote(members)
	// Health is the ring's: joiners (parked or not) that are down hold no
	// partition yet.
	switch {
	case len(members) == 0:
		return "no members"
	case inRing < n:
		return line + fmt.Sprintf(" — under-replicated: %d members for %d replicas", inRing, n) + repairing
	case downInRing == 0 && joining+leaving == 0 && repairing == "":
		return line + " — healthy"
	case downInRing == 0 && joining+leaving == 0:
		return line + " — repairing" + strings.TrimPrefix(repairing, "; repairing")
	case downInRing == 0:
		return line + " — rebalancing" + repairing
	case downInRing < n/2+1 && downInRing < n:
		return line + " — degraded: QUORUM works, ALL fails for keys on down nodes" + repairing
	default:
		return line + " — unavailable: QUORUM fails for keys on down nodes" + repairing
	}
}

// repairingNote names the members refilling lost data and what they have
// left ("" when none is).
func repairingNote(members []Member) string {
	var parts []string
	for _, m := range members {
		if m.Repairing > 0 {
			parts = append(parts, fmt.Sprintf("%s (%d partitions left)", m.ID, m.Repairing))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; repairing: " + strings.Join(parts, ", ") + ", reads of those go to other replicas"
}
