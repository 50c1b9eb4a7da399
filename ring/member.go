package ring

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
)

// State is a member's place in the ring lifecycle as its entry records it:
// what the member is asked to be. Whether it owns partitions is decided by
// the committed ring (Doc.Ring), not by this field alone (see Doc.StateOf).
type State uint8

// Member states.
const (
	StateJoining State = iota // wants into the ring: takes its partitions, then a commit admits it
	StateValid                // in the ring
	StateLeaving              // wants out of the ring: transfers its data out, then a commit drops it
	StateRemoved              // out (or on its way out without transferring its data: a dead member)
	StateParked               // a joiner set aside (down or stuck too long); taken up again when back
)

var stateNames = [...]string{"joining", "valid", "leaving", "removed", "parked"}

// stateRank orders states for a merge of two entries of equal Version: an
// operator's remove beats an automatic park, a commit beats a park.
var stateRank = [...]int{StateJoining: 0, StateParked: 1, StateValid: 2, StateLeaving: 3, StateRemoved: 4}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Valid reports whether s is one of the defined states.
func (s State) Valid() bool { return int(s) < len(stateNames) }

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

// ParseState parses a state name (joining|valid|leaving|removed|parked).
func ParseState(name string) (State, error) {
	var s State
	err := s.UnmarshalText([]byte(name))
	return s, err
}

// Member is one entry of the member document. It has two parts, each with
// its own version and merged on its own, so that a member's own updates
// (addresses, readiness) and other nodes' updates (its state) never
// overwrite each other:
//
//   - the state part (State, Gen), versioned by Version, which any node
//     may change (admission, leave, remove, park, a commit's cosmetic
//     joining → valid);
//   - the self part (Addr, Gossip, Zone, Ready, ReadyEpoch, Empty, Held),
//     versioned by Self, which only the member itself changes.
type Member struct {
	ID      string `json:"id"`
	Addr    string `json:"addr"`   // gRPC host:port
	Gossip  string `json:"gossip"` // memberlist host:port
	Zone    string `json:"zone,omitempty"`
	State   State  `json:"state"`
	Version uint64 `json:"version"`
	// Gen is the Version at which the member last became a joiner from
	// outside the ring (new, removed or parked). A new Gen is a fresh
	// join: whatever the member's data dir holds is discarded first.
	Gen uint64 `json:"gen,omitempty"`
	// Self versions the fields only the member writes.
	Self uint64 `json:"self,omitempty"`
	// Ready is the signature of the target ring for which, at ring epoch
	// ReadyEpoch, this member holds every partition it will replicate and
	// has transferred out every partition it will lose.
	Ready      string `json:"ready,omitempty"`
	ReadyEpoch uint64 `json:"ready_epoch,omitempty"`
	// Empty: the member's store holds no data, so a change that moves only
	// its partitions moves nothing.
	Empty bool `json:"empty,omitempty"`
	// Held is how many partitions the member holds completely: a joiner
	// whose count stops moving while a change waits for it is stuck.
	Held uint32 `json:"held,omitempty"`
}

// mergeMember joins two entries of one member: each part comes from the
// entry whose version of it is higher, ties broken by a strict total order
// on the part's fields, so merge is commutative, associative and
// idempotent.
func mergeMember(a, b Member) Member {
	out := a
	if stateNewer(b, a) {
		out.State, out.Version, out.Gen = b.State, b.Version, b.Gen
	}
	if selfNewer(b, a) {
		out.Addr, out.Gossip, out.Zone = b.Addr, b.Gossip, b.Zone
		out.Self, out.Ready, out.ReadyEpoch, out.Empty, out.Held = b.Self, b.Ready, b.ReadyEpoch, b.Empty, b.Held
	}
	return out
}

func stateNewer(a, b Member) bool {
	if c := cmp.Compare(a.Version, b.Version); c != 0 {
		return c > 0
	}
	if c := cmp.Compare(rankOf(a.State), rankOf(b.State)); c != 0 {
		return c > 0
	}
	return a.Gen > b.Gen
}

func rankOf(s State) int {
	if int(s) < len(stateRank) {
		return stateRank[s]
	}
	return -1
}

func selfNewer(a, b Member) bool {
	if c := cmp.Compare(a.Self, b.Self); c != 0 {
		return c > 0
	}
	for _, c := range []int{
		cmp.Compare(a.Addr, b.Addr), cmp.Compare(a.Gossip, b.Gossip), cmp.Compare(a.Zone, b.Zone),
		cmp.Compare(a.Ready, b.Ready), cmp.Compare(a.ReadyEpoch, b.ReadyEpoch), cmpBool(a.Empty, b.Empty),
		cmp.Compare(a.Held, b.Held),
	} {
		if c != 0 {
			return c > 0
		}
	}
	return false
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// RingRecord is the committed ring: its members and its epoch. Every
// commit raises the epoch by one; of two records the one with the higher
// epoch wins, and at equal epochs the larger member list (compared
// element by element), so every node settles on the same record.
//
// Zones holds the zone of each member that has one, as it was when the
// ring was committed: placement reads it from here, so a member's zone
// takes effect when the member joins and cannot move data under a
// committed ring.
type RingRecord struct {
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"` // sorted, distinct
	Zones   Zones    `json:"zones,omitempty"`
}

func (r RingRecord) newer(o RingRecord) bool {
	if r.Epoch != o.Epoch {
		return r.Epoch > o.Epoch
	}
	if c := slices.Compare(r.Members, o.Members); c != 0 {
		return c > 0
	}
	return compareZones(r.Zones, o.Zones) > 0
}

func (r RingRecord) equal(o RingRecord) bool {
	return r.Epoch == o.Epoch && slices.Equal(r.Members, o.Members) && maps.Equal(r.Zones, o.Zones)
}

// clone returns a deep copy of r with its members sorted and distinct and
// only its members' non-empty zones.
func (r RingRecord) clone() RingRecord {
	ms := slices.Clone(r.Members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	return RingRecord{Epoch: r.Epoch, Members: ms, Zones: memberZones(ms, r.Zones)}
}

// compareZones orders two zone maps by their sorted (member, zone) pairs.
func compareZones(a, b Zones) int {
	ka, kb := slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b))
	for i := 0; i < len(ka) && i < len(kb); i++ {
		if c := cmp.Or(cmp.Compare(ka[i], kb[i]), cmp.Compare(a[ka[i]], b[kb[i]])); c != 0 {
			return c
		}
	}
	return cmp.Compare(len(ka), len(kb))
}

// Contains reports whether id is in the committed ring.
func (r RingRecord) Contains(id string) bool {
	_, ok := slices.BinarySearch(r.Members, id)
	return ok
}

// Doc is the member document: the cluster constants, the committed ring
// and every member ever seen (removed ones stay as tombstones), keyed by
// ID. Treat a Doc as a value: methods never mutate their receiver or
// arguments, and a Doc's map and ring slice must not be modified once
// shared (use With, WithRing or Clone).
type Doc struct {
	Cluster ClusterConfig
	Ring    RingRecord
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
	return Doc{Cluster: d.Cluster, Ring: d.Ring.clone(), Members: m}
}

// With returns a copy of d with mem stored under mem.ID as given (no
// version logic; callers bump versions themselves).
func (d Doc) With(mem Member) Doc {
	c := d.Clone()
	c.Members[mem.ID] = mem
	return c
}

// WithRing returns a copy of d with the committed ring r (members sorted
// and made distinct).
func (d Doc) WithRing(r RingRecord) Doc {
	c := d.Clone()
	c.Ring = r.clone()
	return c
}

// Equal reports whether two documents are identical.
func (d Doc) Equal(o Doc) bool {
	return d.Cluster == o.Cluster && d.Ring.equal(o.Ring) && maps.Equal(d.Members, o.Members)
}

// Merge joins o into d: the newer ring record wins, and per member each
// part of the entry comes from the side with the higher version of it.
// changed reports whether the result differs from d. Merge is
// commutative, associative and idempotent for documents of one cluster; a
// zero Cluster is taken from the other side. Callers must refuse documents
// of another cluster before merging (Membership does). Neither input is
// mutated; when nothing changes d itself is returned.
func (d Doc) Merge(o Doc) (Doc, bool) {
	changed := o.Ring.newer(d.Ring) || (d.Cluster == (ClusterConfig{}) && o.Cluster != d.Cluster)
	for id, om := range o.Members {
		if dm, ok := d.Members[id]; !ok || mergeMember(dm, om) != dm {
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
	if o.Ring.newer(out.Ring) {
		out.Ring = o.Ring.clone()
	}
	for id, om := range o.Members {
		if dm, ok := out.Members[id]; ok {
			out.Members[id] = mergeMember(dm, om)
		} else {
			out.Members[id] = om
		}
	}
	return out, true
}

// Epoch is the committed ring's epoch: it grows by one with every commit.
func (d Doc) Epoch() uint64 { return d.Ring.Epoch }

// RingMembers returns the sorted IDs of the committed ring (a fresh copy).
func (d Doc) RingMembers() []string { return slices.Clone(d.Ring.Members) }

// TargetMembers returns the sorted IDs of the ring being moved to: the
// committed members not asked to leave or be removed, and the members
// asked to join (joining; valid ones missing from the ring join too).
// Parked joiners are left out. It equals RingMembers when no change is
// in progress.
func (d Doc) TargetMembers() []string {
	var ids []string
	for _, id := range d.Ring.Members {
		if m, ok := d.Members[id]; !ok || (m.State != StateLeaving && m.State != StateRemoved) {
			ids = append(ids, id)
		}
	}
	for id, m := range d.Members {
		if !d.Ring.Contains(id) && (m.State == StateJoining || m.State == StateValid) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// StateOf is member id's state as operators see it: valid or leaving while
// in the committed ring, joining or parked while on its way in, removed
// once out.
func (d Doc) StateOf(id string) State {
	m := d.Members[id]
	if d.Ring.Contains(id) {
		if m.State == StateLeaving || m.State == StateRemoved {
			return StateLeaving
		}
		return StateValid
	}
	switch m.State {
	case StateJoining, StateValid:
		return StateJoining
	case StateParked:
		return StateParked
	}
	return StateRemoved
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
	slices.SortFunc(out, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return out
}
