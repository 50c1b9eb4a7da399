package ring

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
)

// State is a member's place in the ring lifecycle.
type State uint8

// Member states. Ordered: at equal Version the higher state wins a merge.
const (
	StateJoining State = iota // known, not yet in the ring
	StateValid                // in the ring
	StateLeaving              // still in the ring, handing its data off
	StateRemoved              // out of the ring; kept as a tombstone
)

var stateNames = [...]string{"joining", "valid", "leaving", "removed"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

// InRing reports whether a member in state s owns partitions: valid and
// leaving members do, joining and removed ones do not.
func (s State) InRing() bool { return s == StateValid || s == StateLeaving }

// MarshalText encodes the state by name.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("ring: invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("ring: unknown state %q", b)
}

// ParseState parses a state name (joining|valid|leaving|removed).
func ParseState(name string) (State, error) {
	var s State
	err := s.UnmarshalText([]byte(name))
	return s, err
}

// Member is one entry of the member document. Each entry carries its own
// Version; whoever changes an entry bumps it.
type Member struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`   // gRPC host:port
	Gossip  string `json:"gossip"` // memberlist host:port
	Zone    string `json:"zone,omitempty"`
	State   State  `json:"state"`
	Version uint64 `json:"version"`
	// Ready is the signature of the target ring (TargetSignature) for which
	// this member holds every partition it will replicate: the handoff to
	// that ring is done on its side.
	Ready string `json:"ready,omitempty"`
}

// newer reports whether a beats b in a merge: higher Version, then higher
// State, then the larger of the remaining fields compared bytewise. It is a
// strict total order on distinct entries, so merge is a join.
func (a Member) newer(b Member) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.State != b.State {
		return a.State > b.State
	}
	if a.Addr != b.Addr {
		return a.Addr > b.Addr
	}
	if a.Gossip != b.Gossip {
		return a.Gossip > b.Gossip
	}
	if a.Zone != b.Zone {
		return a.Zone > b.Zone
	}
	return a.Ready > b.Ready
}

// Doc is the member document: the cluster constants and every member ever
// seen (removed ones stay as tombstones), keyed by ID. Treat a Doc as a
// value: methods never mutate their receiver or arguments, and a Doc's map
// must not be modified once shared (use With or Clone).
type Doc struct {
	Cluster ClusterConfig
	Members map[string]Member
}

// NewDoc returns an empty document for cfg.
func NewDoc(cfg ClusterConfig) Doc {
	return Doc{Cluster: cfg, Members: map[string]Member{}}
}

// Clone returns a deep copy.
func (d Doc) Clone() Doc {
	m := make(map[string]Member, len(d.Members))
	maps.Copy(m, d.Members)
	return Doc{Cluster: d.Cluster, Members: m}
}

// With returns a copy of d with mem stored under mem.ID as given (no
// version logic; callers bump Version themselves).
func (d Doc) With(mem Member) Doc {
	c := d.Clone()
	c.Members[mem.ID] = mem
	return c
}

// Equal reports whether two documents are identical.
func (d Doc) Equal(o Doc) bool {
	return d.Cluster == o.Cluster && maps.Equal(d.Members, o.Members)
}

// Merge joins o into d: per member, the entry with the higher Version wins
// (ties: see Member.newer). changed reports whether the result differs from
// d. Merge is commutative, associative and idempotent for documents of one
// cluster; a zero Cluster is taken from the other side. Callers must refuse
// documents of another cluster before merging (Membership does). Neither
// input is mutated; when nothing changes d itself is returned.
func (d Doc) Merge(o Doc) (Doc, bool) {
	changed := false
	if d.Cluster == (ClusterConfig{}) && o.Cluster != d.Cluster {
		changed = true
	}
	for id, om := range o.Members {
		if dm, ok := d.Members[id]; !ok || om.newer(dm) {
			changed = true
			break
		}
	}
	if !changed {
		return d, false
	}
	out := d.Clone()
	if out.Cluster == (ClusterConfig{}) {
		out.Cluster = o.Cluster
	}
	for id, om := range o.Members {
		if dm, ok := out.Members[id]; !ok || om.newer(dm) {
			out.Members[id] = om
		}
	}
	return out, true
}

// RingMembers returns the sorted IDs of members that own partitions (state
// valid or leaving).
func (d Doc) RingMembers() []string {
	ids := make([]string, 0, len(d.Members))
	for id, m := range d.Members {
		if m.State.InRing() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// TargetMembers returns the sorted IDs of the ring being moved to: joining
// and valid members (leaving and removed ones are on their way out). It
// equals RingMembers when no change is in progress.
func (d Doc) TargetMembers() []string {
	ids := make([]string, 0, len(d.Members))
	for id, m := range d.Members {
		if m.State == StateJoining || m.State == StateValid {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// Signature names a member set (a ring): a short hash of its sorted IDs.
func Signature(ids []string) string {
	h := fnv.New64a()
	for _, id := range ids {
		_, _ = h.Write([]byte(id))
		_, _ = h.Write([]byte{0})
	}
	return strconv.FormatUint(h.Sum64(), 36)
}

// Sorted returns the members ordered by ID.
func (d Doc) Sorted() []Member {
	out := slices.Collect(maps.Values(d.Members))
	slices.SortFunc(out, func(a, b Member) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}
