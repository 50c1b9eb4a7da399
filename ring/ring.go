package ring

import (
	"errors"
	"maps"
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Ring is the partition map for one member set: owner, preference list and
// fallbacks of every partition, all precomputed by Build. A Ring is
// immutable and safe for concurrent use; lookups do not allocate.
//
// Memory: about 16·Q·M bytes for the walk orders (Q=1024, M=12: ~200 KB).
type Ring struct {
	cfg     ClusterConfig
	members []string // sorted, distinct
	zones   Zones    // zone per member; nil without zones
	nzones  int      // distinct zones of the members ("" is one)
	n       int      // min(Replicas, len(members))
	owners  []string // per partition
	walk    []string // Q rows of M: the full walk order of partition p
	primary map[string]int
	owned   map[string]int
	sig     string // Signature(members)
}

// Signature names the ring's member set (see Signature).
func (r *Ring) Signature() string {
	return r.sig
}

// Zones maps member IDs to their failure zones. A member missing from it
// (or mapped to "") is in the zone "".
type Zones map[string]string

// Build computes the ring of cfg for members (node IDs; order and
// duplicates are irrelevant) in their zones (nil: none). With no members
// the ring is empty: Partition still works, Preference/Fallbacks return
// nil and Owner returns "".
//
// With members in at least two zones, every preference list spans
// min(N, zones) distinct zones, as Cassandra's NetworkTopologyStrategy
// and Riak's location awareness do: owners are spaced so that walking the
// partitions meets distinct zones, and the walk skips a member whose zone
// the list already has while the remaining slots are needed for zones it
// lacks.
func Build(cfg ClusterConfig, members []string, zones Zones) (*Ring, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	for _, id := range ms {
		if id == "" {
			return nil, errors.New("ring: empty member id")
		}
	}
	q, m := cfg.Partitions, len(ms)
	r := &Ring{
		cfg:     cfg,
		members: ms,
		zones:   memberZones(ms, zones),
		n:       min(cfg.Replicas, m),
		primary: make(map[string]int, m),
		owned:   make(map[string]int, m),
		sig:     Signature(ms),
	}
	if m == 0 {
		return r, nil
	}
	own, err := computeOwners(q, cfg.Replicas, ms, r.zones)
	if err != nil {
		return nil, err
	}
	_, r.nzones = zonedGroups(ms, r.zones)
	r.owners = make([]string, q)
	for p, i := range own {
		r.owners[p] = ms[i]
		r.owned[ms[i]]++
	}
	r.walk = make([]string, q*m)
	seen := make([]int, m) // stamp p+1 when member i was taken for partition p
	for p := 0; p < q; p++ {
		row := r.walk[p*m : p*m : (p+1)*m]
		for d := 0; d < q && len(row) < m; d++ {
			i := own[(p+d)%q]
			if seen[i] != p+1 {
				seen[i] = p + 1
				row = append(row, ms[i])
			}
		}
		// Members owning no partition (only when Q < M) come last, sorted.
		for i := 0; len(row) < m; i++ {
			if seen[i] != p+1 {
				row = append(row, ms[i])
			}
		}
		if r.nzones >= 2 {
			r.spreadZones(row)
		}
		for _, id := range row[:r.n] {
			r.primary[id]++
		}
	}
	return r, nil
}

// memberZones keeps the non-empty zones of members (nil when none has one).
func memberZones(members []string, zones Zones) Zones {
	var out Zones
	for _, id := range members {
		if z := zones[id]; z != "" {
			if out == nil {
				out = Zones{}
			}
			out[id] = z
		}
	}
	return out
}

// spreadZones reorders a walk row in place so that its first n entries
// span min(n, zones) distinct zones: walking the row, a member is taken
// into the preference list when its zone is new to the list, or when the
// slots left after it still cover the zones the list lacks. The members
// passed over keep their walk order after the list (the fallbacks).
func (r *Ring) spreadZones(row []string) {
	want := min(r.n, r.nzones)
	pref := make([]string, 0, r.n)
	rest := make([]string, 0, len(row))
	have := map[string]bool{}
	for _, id := range row {
		if len(pref) == r.n {
			rest = append(rest, id)
			continue
		}
		z := r.zones[id]
		lacking := want - len(have)
		if !have[z] {
			lacking--
		}
		if have[z] && r.n-len(pref)-1 < lacking {
			rest = append(rest, id)
			continue
		}
		have[z] = true
		pref = append(pref, id)
	}
	copy(row, pref)
	copy(row[len(pref):], rest)
}

// same reports whether r has exactly members ids (sorted) in zones.
func (r *Ring) same(ids []string, zones Zones) bool {
	return slices.Equal(ids, r.members) && maps.Equal(memberZones(ids, zones), r.zones)
}

// Zone returns member id's zone ("" when it has none).
func (r *Ring) Zone(id string) string { return r.zones[id] }

// ZoneCount is the number of distinct zones of the members ("" counts as
// one when some member has no zone).
func (r *Ring) ZoneCount() int { return r.nzones }

// Config returns the cluster constants the ring was built with.
func (r *Ring) Config() ClusterConfig { return r.cfg }

// Members returns the ring members, sorted (a fresh copy).
func (r *Ring) Members() []string { return slices.Clone(r.members) }

// Len is the number of ring members.
func (r *Ring) Len() int { return len(r.members) }

// Partition maps a key to its partition: xxhash64(GroupOf(key)) mod Q
// (keys of one `{group}` share a partition).
func (r *Ring) Partition(key []byte) int {
	return int(xxhash.Sum64(GroupOf(key)) % uint64(r.cfg.Partitions))
}

func (r *Ring) valid(p int) bool {
	return len(r.members) > 0 && p >= 0 && p < r.cfg.Partitions
}

// Preference returns the first min(N, M) distinct owners met walking
// partitions p, p+1, … (mod Q); if fewer than that many members own
// partitions at all (only when Q < M), the non-owners follow in ID order.
// The slice is shared: read-only. Nil for an empty ring or p out of range.
func (r *Ring) Preference(p int) []string {
	if !r.valid(p) {
		return nil
	}
	m := len(r.members)
	return r.walk[p*m : p*m+r.n : p*m+r.n]
}

// Fallbacks returns the other members in the same walk order (the
// sloppy-quorum substitutes, best first). Shared slice: read-only.
func (r *Ring) Fallbacks(p int) []string {
	if !r.valid(p) {
		return nil
	}
	m := len(r.members)
	return r.walk[p*m+r.n : (p+1)*m : (p+1)*m]
}

// Owner returns the owner of partition p ("" for an empty ring or p out of
// range). It is the first entry of Preference(p).
func (r *Ring) Owner(p int) string {
	if !r.valid(p) {
		return ""
	}
	return r.owners[p]
}

// PrimaryCount is the number of partitions whose preference list holds node.
func (r *Ring) PrimaryCount(node string) int { return r.primary[node] }

// OwnedCount is the number of partitions node owns (is first in the
// preference list of).
func (r *Ring) OwnedCount(node string) int { return r.owned[node] }

// IsReplica reports whether node is in the preference list of p.
func (r *Ring) IsReplica(p int, node string) bool {
	return slices.Contains(r.Preference(p), node)
}

// Contains reports whether node is a ring member.
func (r *Ring) Contains(node string) bool {
	_, ok := slices.BinarySearch(r.members, node)
	return ok
}
