package ring

import (
	"fmt"
	"sort"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// Placement tuning. Changing any of these changes the partition map, so the
// version string (part of ClusterConfig.Hash) must change with them.
const (
	placementVersion = "consistent-v1.0.0/rf100/load1.25/spread-v1/keygroups-v1"
	vnodesPerMember  = 100  // consistent.Config.ReplicationFactor
	loadFactor       = 1.25 // consistent.Config.Load
	// repairBudget bounds the swap search of the last placement step, in
	// candidate checks per partition.
	repairBudget = 64
)

type xxHasher struct{}

func (xxHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

type memberName string

func (m memberName) String() string { return string(m) }

// baseOwners asks buraksezer/consistent for the owner (index into members)
// of every partition.
func baseOwners(q int, members []string) (own []int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ring: consistent: %v", r)
		}
	}()
	ms := make([]consistent.Member, len(members))
	idx := make(map[string]int, len(members))
	for i, m := range members {
		ms[i] = memberName(m)
		idx[m] = i
	}
	c := consistent.New(ms, consistent.Config{
		PartitionCount:    q,
		ReplicationFactor: vnodesPerMember,
		Load:              loadFactor,
		Hasher:            xxHasher{},
	})
	own = make([]int, q)
	for p := range own {
		o := c.GetPartitionOwner(p)
		if o == nil {
			return nil, fmt.Errorf("ring: consistent left partition %d without owner", p)
		}
		own[p] = idx[o.String()]
	}
	return own, nil
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// placer holds the working state of computeOwners.
type placer struct {
	q, m, w int   // partitions, members, spacing window
	group   []int // spacing group per member: its zone, or itself without zones
	own     []int // owner index per partition, -1 = unassigned
	count   []int // partitions held per member
	quota   []int // partitions each member must end with
	seeds   []uint64
}

// score is a rendezvous weight of member i for partition p: the stable
// tie-breaker for every choice below, so that a choice depends on p and on
// who is eligible, not on the order in which partitions are visited.
func (pl *placer) score(p, i int) uint64 {
	return splitmix64(pl.seeds[i] ^ splitmix64(uint64(p)))
}

// conflicts reports whether a member of i's spacing group (i itself, or
// its zone) owns a partition within w-1 steps of p (either direction),
// ignoring p itself.
func (pl *placer) conflicts(p, i int) bool {
	for d := 1; d < pl.w && d < pl.q; d++ {
		if pl.sameGroup((p+d)%pl.q, i) || pl.sameGroup((p-d+pl.q)%pl.q, i) {
			return true
		}
	}
	return false
}

// sameGroup reports whether partition p's owner is in member i's group.
func (pl *placer) sameGroup(p, i int) bool {
	o := pl.own[p]
	return o >= 0 && pl.group[o] == pl.group[i]
}

// computeOwners returns the owner (index into the sorted members) of every
// partition. Steps, all deterministic:
//
//  1. consistent (bounded load) gives a base owner per partition;
//  2. spacing: of two partitions closer than w with owners of one spacing
//     group, the one with the lower score is released. Without zones a
//     member is its own group and w = N (when M > N); with Z ≥ 2 zones a
//     group is a zone and w = min(N, Z), so that walking the partitions
//     meets distinct zones (see zonedGroups);
//  3. quota: every member may keep ⌊Q/M⌋ or ⌈Q/M⌉ (the ⌈⌉ go to the members
//     consistent gave most); an over-quota member releases its lowest-score
//     partitions;
//  4. fill: released partitions, in order, go to the highest-score member
//     that is under quota and does not conflict (or, if none, under quota);
//  5. repair: a remaining spacing conflict is removed by swapping owners with
//     another partition when the swap creates no new conflict.
func computeOwners(q, n int, members []string, zones Zones) ([]int, error) {
	m := len(members)
	if m == 0 {
		return nil, nil
	}
	base, err := baseOwners(q, members)
	if err != nil {
		return nil, err
	}
	pl := &placer{q: q, m: m, w: 1, own: append([]int(nil), base...),
		count: make([]int, m), quota: make([]int, m), seeds: make([]uint64, m)}
	group, z := zonedGroups(members, zones)
	switch {
	case z >= 2:
		pl.group, pl.w = group, min(n, z)
	case m > n:
		pl.group, pl.w = identity(m), n
	default:
		pl.group = identity(m)
	}
	for i, s := range members {
		pl.seeds[i] = xxhash.Sum64String(s)
	}
	baseCount := make([]int, m)
	for _, o := range base {
		baseCount[o]++
	}
	pl.releaseConflicts()
	pl.setQuotas(baseCount)
	pl.releaseOverQuota()
	pl.fill()
	pl.repair()
	return pl.own, nil
}

func (pl *placer) releaseConflicts() {
	if pl.w <= 1 {
		return
	}
	for p := 0; p < pl.q; p++ {
		i := pl.own[p]
		if i < 0 {
			continue
		}
		for d := 1; d < pl.w && d < pl.q; d++ {
			j := (p + d) % pl.q
			if !pl.sameGroup(j, i) {
				continue
			}
			if pl.score(p, i) < pl.score(j, pl.own[j]) {
				pl.own[p] = -1
				break
			}
			pl.own[j] = -1
		}
	}
}

// identity is the spacing groups without zones: every member its own.
func identity(m int) []int {
	g := make([]int, m)
	for i := range g {
		g[i] = i
	}
	return g
}

// zonedGroups numbers the distinct zones of members (sorted) in order of
// first appearance and returns each member's zone number and the number of
// zones. A member without a zone is in the zone "".
func zonedGroups(members []string, zones Zones) ([]int, int) {
	g := make([]int, len(members))
	num := map[string]int{}
	for i, id := range members {
		z := zones[id]
		k, ok := num[z]
		if !ok {
			k = len(num)
			num[z] = k
		}
		g[i] = k
	}
	return g, len(num)
}

func (pl *placer) setQuotas(baseCount []int) {
	order := make([]int, pl.m)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return baseCount[order[a]] > baseCount[order[b]] })
	each, extra := pl.q/pl.m, pl.q%pl.m
	for k, i := range order {
		pl.quota[i] = each
		if k < extra {
			pl.quota[i]++
		}
	}
}

func (pl *placer) releaseOverQuota() {
	held := make([][]int, pl.m)
	for p, i := range pl.own {
		if i >= 0 {
			held[i] = append(held[i], p)
		}
	}
	for i, ps := range held {
		if len(ps) > pl.quota[i] {
			sort.Slice(ps, func(a, b int) bool { return pl.score(ps[a], i) > pl.score(ps[b], i) })
			for _, p := range ps[pl.quota[i]:] {
				pl.own[p] = -1
			}
			ps = ps[:pl.quota[i]]
		}
		pl.count[i] = len(ps)
	}
}

func (pl *placer) fill() {
	for p := 0; p < pl.q; p++ {
		if pl.own[p] >= 0 {
			continue
		}
		best, relaxed := -1, -1
		for i := 0; i < pl.m; i++ {
			if pl.count[i] >= pl.quota[i] {
				continue
			}
			if !pl.conflicts(p, i) {
				if best < 0 || pl.score(p, i) > pl.score(p, best) {
					best = i
				}
			} else if relaxed < 0 || pl.score(p, i) > pl.score(p, relaxed) {
				relaxed = i
			}
		}
		if best < 0 {
			best = relaxed
		}
		pl.own[p] = best // quotas sum to q, so some member is always under quota
		pl.count[best]++
	}
}

func (pl *placer) repair() {
	if pl.w <= 1 {
		return
	}
	budget := repairBudget * pl.q
	for p := 0; p < pl.q && budget > 0; p++ {
		a := pl.own[p]
		if !pl.conflicts(p, a) {
			continue
		}
		for r := 0; r < pl.q && budget > 0; r++ {
			budget--
			b := pl.own[r]
			if pl.group[b] == pl.group[a] || r == p {
				continue
			}
			pl.own[p], pl.own[r] = b, a
			if !pl.conflicts(p, b) && !pl.conflicts(r, a) {
				break
			}
			pl.own[p], pl.own[r] = a, b
		}
	}
}
