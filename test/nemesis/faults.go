package nemesis

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Fault kinds.
const (
	FaultIsolate   = "isolate"   // one node cut from its peers (clients still reach it)
	FaultPartition = "partition" // bridge partition: two nodes cut, the third sees both
	FaultOneWay    = "oneway"    // packets from one node to another dropped, not back
	FaultKill      = "kill"      // SIGKILL, then restart
	FaultPause     = "pause"     // SIGSTOP, then SIGCONT
	FaultSlow      = "slow"      // SIGSTOP/SIGCONT duty cycle: a node thrashing in GC or on a starved VM
	FaultSkew      = "skew"      // restart with --clock-offset, then without
	FaultHintKill  = "hintkill"  // isolate a node, SIGKILL the node holding its hints, heal, restart
	FaultWipe      = "wipe"      // SIGKILL, remove the data directory, restart (a lost disk)

	// Membership changes (membership.go): each lasts until the ring has
	// settled again.
	FaultJoin   = "join"   // start a spare slot: a new node joins (a reused slot's old data is wiped first)
	FaultLeave  = "leave"  // ring leave of a member, wait until it is removed, stop it: its slot becomes a spare that keeps its data
	FaultRemove = "remove" // SIGKILL a member, ring remove, wait until it is removed, wipe its disk, restart it: it rejoins
	FaultRejoin = "rejoin" // restart a node that left on its old data dir: it rejoins as a fresh joiner
)

// DefaultFaults are the kinds the nemesis draws from unless told otherwise.
var DefaultFaults = []string{FaultIsolate, FaultPartition, FaultOneWay, FaultKill, FaultPause, FaultSlow, FaultSkew, FaultHintKill}

// UserFaults are the kinds judged on what users see: every request of the
// ring-aware client made while one is in force (Availability.Users). A
// frozen or slow node is still up for gossip a while and still holds its
// connections, so only routing around it keeps users' requests fast.
var UserFaults = []string{FaultPause, FaultSlow}

// The slow fault's duty cycle: the node is stopped for slowStopMin up to
// slowStopMax, then runs for slowRunMin up to slowRunMax, again and again
// until the fault is healed (tc netem is not available to delay its
// packets instead; docs in doc.go).
const (
	slowStopMin, slowStopMax = 200 * time.Millisecond, 300 * time.Millisecond
	slowRunMin, slowRunMax   = 50 * time.Millisecond, 100 * time.Millisecond
)

// MembershipFaults change the ring; they need 5 nodes (Config.Nodes) and
// a spare slot to join.
var MembershipFaults = []string{FaultJoin, FaultLeave, FaultRemove, FaultRejoin}

// AllFaults are every kind the nemesis knows.
var AllFaults = append(append(slices.Clone(DefaultFaults), FaultWipe), MembershipFaults...)

func isMembership(kind string) bool { return slices.Contains(MembershipFaults, kind) }

// FaultMembership names every membership kind at once in Config.Faults
// (and --faults): a run of ring changes alone.
const FaultMembership = "membership"

// expandFaults replaces FaultMembership by the membership kinds (each
// kind once, in the order given).
func expandFaults(kinds []string) []string {
	var out []string
	for _, k := range kinds {
		ks := []string{k}
		if k == FaultMembership {
			ks = MembershipFaults
		}
		for _, k := range ks {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// DefaultSkews are the clock offsets of a skew fault (below the default hint
// window, so they change no hint's fate); ExtremeSkews add offsets beyond the
// default tombstone grace.
// ShortGraceSkews are the offsets of the short-grace profile: well below
// the margin between its tombstone grace and its hints' max age (half the
// grace), since larger jumps are documented as unsafe there.
var (
	DefaultSkews    = []time.Duration{-2 * time.Hour, -10 * time.Minute, -30 * time.Second, 30 * time.Second, 10 * time.Minute, 2 * time.Hour}
	ExtremeSkews    = []time.Duration{-25 * time.Hour, 25 * time.Hour}
	ShortGraceSkews = []time.Duration{-3 * time.Second, -time.Second, time.Second, 3 * time.Second}
)

// faultSnap is the fault in force, as operations see it when they start.
type faultSnap struct {
	epoch  int64
	kind   string // "" when the cluster is whole
	nodes  []int  // the faulted nodes (the minority side of a single-node fault)
	single bool   // a single-node fault: availability of the other nodes is measured
	// overlapped (entries of nemesis.active only): in force together with
	// the other source's at some point.
	overlapped bool
}

// FaultRecord is one injected fault.
type FaultRecord struct {
	Kind    string   `json:"kind"`
	Nodes   []string `json:"nodes"`
	AtS     float64  `json:"at_s"`
	HealedS float64  `json:"healed_at_s"`
	Detail  string   `json:"detail,omitempty"`
	// Unhealed: the cluster had not recovered from the previous fault (some
	// node did not yet see every other one up) when this one began, so it
	// is not counted as a single-node fault for availability.
	Unhealed bool `json:"unhealed,omitempty"`
	// Concurrent: a fault and a membership change were in force together
	// at some point of this one (Config.ConcurrentMembership); it is not
	// counted as a single-node fault from then on.
	Concurrent bool `json:"concurrent,omitempty"`

	// Membership changes: the ring epoch before and after, when an epoch
	// change was first seen (each commit), when the ring had settled again
	// (every member up, valid, one epoch, no transfers; HealedS too), the
	// members afterwards, and the reads at ONE made after it settled.
	EpochBefore  uint64    `json:"epoch_before,omitempty"`
	EpochAfter   uint64    `json:"epoch_after,omitempty"`
	CommittedS   []float64 `json:"committed_at_s,omitempty"`
	SettledS     *float64  `json:"settled_at_s,omitempty"`
	MembersAfter []string  `json:"members_after,omitempty"`
	OneReads     int       `json:"one_reads,omitempty"`
	OneNotFound  int       `json:"one_reads_not_found,omitempty"`
	// Failed: the change did not settle within the bound (or could not be
	// asked for).
	Failed string `json:"failed,omitempty"`
}

type nemesis struct {
	c     *cluster
	outer context.Context // the run's context: membership changes finish even when the fault phase ends
	mem   *memberships
	// targets restricts the nodes faults pick (nil: every member).
	targets []int
	// memberPerCycle: membership kinds per cycle of the draw (0: all);
	// memberNext: the next one.
	memberPerCycle, memberNext int
	rng                        *rand.Rand
	kinds                      []string
	queue                      []string
	skews                      []time.Duration
	// concurrent: membership changes run on their own (runMembership),
	// concurrent with the other faults, drawing from memberRng (rng
	// otherwise: one goroutine draws everything).
	concurrent bool
	memberRng  *rand.Rand

	interval, holdMin, holdMax time.Duration
	settle                     time.Duration // longest wait for a whole cluster before a fault
	start                      time.Time

	epoch atomic.Int64
	state atomic.Pointer[faultSnap]

	// The fault and the membership change being injected, each touched
	// only by the goroutine injecting it.
	current, currentChange *FaultRecord

	// pickMu is held while a fault or a membership change chooses its
	// nodes and claims them, so two concurrent ones never choose the same.
	pickMu sync.Mutex

	mu      sync.Mutex
	records []FaultRecord
	errs    []string
	// active is what is in force, by source (a fault, a membership
	// change); claims the slots each holds (a fault's or a change's nodes
	// are not chosen by the other).
	active map[string]*faultSnap
	claims map[int]string
	logf   func(string, ...any)
}

// Sources of what is in force (concurrent with each other under
// Config.ConcurrentMembership).
const (
	srcFault  = "fault"
	srcChange = "membership"
)

func newNemesis(outer context.Context, c *cluster, seed uint64, kinds []string, skews []time.Duration, interval, holdMin, holdMax time.Duration, start time.Time, logf func(string, ...any)) *nemesis {
	n := &nemesis{
		outer: outer,
		c:     c, rng: rand.New(rand.NewPCG(seed, 0x6e656d65)), kinds: kinds, skews: skews,
		interval: interval, holdMin: holdMin, holdMax: holdMax, start: start, logf: logf,
		settle: min(5*time.Second, interval/2),
		active: map[string]*faultSnap{}, claims: map[int]string{},
	}
	n.memberRng = n.rng
	n.state.Store(&faultSnap{})
	return n
}

func (n *nemesis) snapshot() *faultSnap { return n.state.Load() }

// set says what kind of fault (or membership change) is in force on nodes
// from now on; single: a single-node fault, whose majority side's
// availability is measured. Operations see the fault and the membership
// change in force together: with both, kind is "fault+change", nodes are
// both's and single is false, and each stays non-single until it ends
// (what a change leaves behind, a stopped node, a routing table to
// update, is not the fault's doing).
func (n *nemesis) set(kind string, nodes []int, single bool) {
	src, rec := srcFault, n.current
	if isMembership(kind) {
		src, rec = srcChange, n.currentChange
	}
	if rec != nil && rec.Unhealed {
		single = false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	overlapped := false
	if a := n.active[src]; a != nil && a.overlapped {
		single, overlapped = false, true
	}
	n.active[src] = &faultSnap{kind: kind, nodes: slices.Clone(nodes), single: single, overlapped: overlapped}
	n.publish()
}

// clear ends what src had in force; it reports whether that was ever in
// force together with the other source's.
func (n *nemesis) clear(src string) (overlapped bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.active[src]; a != nil {
		overlapped = a.overlapped
	}
	delete(n.active, src)
	n.publish()
	return overlapped
}

// publish stores the snapshot operations see (n.mu held).
func (n *nemesis) publish() {
	if len(n.active) > 1 {
		for _, a := range n.active {
			a.overlapped, a.single = true, false
		}
	}
	snap := &faultSnap{epoch: n.epoch.Add(1)}
	for _, src := range []string{srcFault, srcChange} {
		a := n.active[src]
		if a == nil {
			continue
		}
		if snap.kind == "" {
			snap.kind, snap.nodes, snap.single = a.kind, slices.Clone(a.nodes), a.single
			continue
		}
		snap.kind += "+" + a.kind
		snap.single = false
		for _, x := range a.nodes {
			if !slices.Contains(snap.nodes, x) {
				snap.nodes = append(snap.nodes, x)
			}
		}
	}
	n.state.Store(snap)
}

// claim marks slots as held by src; release frees what src holds.
func (n *nemesis) claim(src string, slots ...int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range slots {
		n.claims[x] = src
	}
}

func (n *nemesis) release(src string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	maps.DeleteFunc(n.claims, func(_ int, s string) bool { return s == src })
}

// claimedByOther reports whether slot x is held by another source than src.
func (n *nemesis) claimedByOther(src string, x int) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	s, ok := n.claims[x]
	return ok && s != src
}

func (n *nemesis) since() float64 { return time.Since(n.start).Seconds() }

func (n *nemesis) errorf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	n.logf("nemesis error: %s", msg)
	n.mu.Lock()
	n.errs = append(n.errs, msg)
	n.mu.Unlock()
}

// next draws the next kind: every kind once (in a seeded order) before any
// repeats, so a short run sees as many different kinds as it has faults.
// The membership kinds of a cycle are spread evenly through it (a short
// run gets its share of them); with memberPerCycle > 0 a cycle holds only
// that many of them (the next ones in turn), so changes, which last until
// they have settled, take a smaller share of a long run.
func (n *nemesis) next() string {
	if len(n.queue) == 0 {
		var regular, member []string
		for _, k := range n.kinds {
			if isMembership(k) {
				member = append(member, k)
			} else {
				regular = append(regular, k)
			}
		}
		take := len(member)
		if n.memberPerCycle > 0 {
			take = min(take, n.memberPerCycle)
		}
		var picked []string
		for range take {
			picked = append(picked, member[n.memberNext%len(member)])
			n.memberNext++
		}
		n.rng.Shuffle(len(regular), func(i, j int) { regular[i], regular[j] = regular[j], regular[i] })
		n.rng.Shuffle(len(picked), func(i, j int) { picked[i], picked[j] = picked[j], picked[i] })
		total := len(regular) + len(picked)
		for i, j := 0, 0; i < total; i++ {
			// Membership kind j goes at position (j+1/2)·total/take.
			if j < len(picked) && i == (2*j+1)*total/(2*len(picked)) {
				n.queue = append(n.queue, picked[j])
				j++
				continue
			}
			n.queue = append(n.queue, regular[0])
			regular = regular[1:]
		}
	}
	k := n.queue[0]
	n.queue = n.queue[1:]
	return k
}

func (n *nemesis) hold() time.Duration {
	if n.holdMax <= n.holdMin {
		return n.holdMin
	}
	return n.holdMin + time.Duration(n.rng.Int64N(int64(n.holdMax-n.holdMin)))
}

func (n *nemesis) names(nodes []int) []string {
	out := make([]string, len(nodes))
	for i, x := range nodes {
		out[i] = n.c.procs[x].id
	}
	return out
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// run injects one fault per interval until ctx is done, each healed after its
// hold; a fault is never injected into a cluster that has not recovered
// from the last one (bounded wait), nor a UserFaults kind the run's end
// would cut short.
func (n *nemesis) run(ctx context.Context, firstDelay time.Duration) {
	for k := 0; ; k++ {
		slot := n.start.Add(firstDelay + time.Duration(k)*n.interval)
		if !sleep(ctx, time.Until(slot)) {
			return
		}
		whole := true
		if err := n.c.waitRing(ctx, n.settle); err != nil {
			if ctx.Err() != nil {
				return
			}
			whole = false
			n.logf("nemesis t=%.1fs: cluster not whole %v after the last fault (%v); injecting anyway", n.since(), n.settle, err)
		}
		kind, hold := n.next(), n.hold()
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < hold && slices.Contains(UserFaults, kind) {
			// A pause or slow fault cut short by the final heal measures
			// nothing users would see: a pause of a fraction of a second
			// is all requests caught in flight when it began.
			n.logf("nemesis t=%.1fs: no %s: the run ends before its %v hold would", n.since(), kind, hold.Round(time.Millisecond))
			return
		}
		n.inject(ctx, kind, hold, whole)
		if ctx.Err() != nil {
			return
		}
	}
}

// runMembership runs membership changes one after the other, concurrent
// with the faults run injects: the first after first, each next one an
// interval after the last has settled, every kind once a cycle in a seeded
// order.
func (n *nemesis) runMembership(ctx context.Context, first time.Duration, kinds []string) {
	var queue []string
	wait := first
	for {
		if !sleep(ctx, wait) {
			return
		}
		if len(queue) == 0 {
			queue = slices.Clone(kinds)
			n.memberRng.Shuffle(len(queue), func(i, j int) { queue[i], queue[j] = queue[j], queue[i] })
		}
		kind := queue[0]
		queue = queue[1:]
		n.inject(ctx, kind, 0, true)
		if ctx.Err() != nil {
			return
		}
		wait = n.interval
	}
}

func (n *nemesis) record(r FaultRecord) {
	n.mu.Lock()
	n.records = append(n.records, r)
	n.mu.Unlock()
}

// pick draws a member slot (among the targets, if any is a member), not
// one a membership change holds (unless no other is left).
func (n *nemesis) pick() int {
	ms := n.unclaimed(n.c.memberSlots())
	if t := slices.DeleteFunc(slices.Clone(ms), func(i int) bool { return !slices.Contains(n.targets, i) }); len(t) > 0 {
		ms = t
	}
	return ms[n.rng.IntN(len(ms))]
}

// unclaimed are the slots of s no membership change holds (s itself when
// that leaves none).
func (n *nemesis) unclaimed(s []int) []int {
	out := slices.DeleteFunc(slices.Clone(s), func(x int) bool { return n.claimedByOther(srcFault, x) })
	if len(out) == 0 {
		return s
	}
	return out
}

// others are every member but x.
func (n *nemesis) others(x ...int) []int {
	var out []int
	for _, i := range n.c.memberSlots() {
		if !slices.Contains(x, i) {
			out = append(out, i)
		}
	}
	return out
}

// allBut are every slot but x (spares included: a network rule against a
// spare's address is harmless).
func (n *nemesis) allBut(x int) []int {
	var out []int
	for i := range n.c.procs {
		if i != x {
			out = append(out, i)
		}
	}
	return out
}

// inject runs one fault for hold (or until ctx is done) and heals it.
func (n *nemesis) inject(ctx context.Context, kind string, hold time.Duration, whole bool) {
	net := n.c.net
	rec := FaultRecord{Kind: kind, AtS: n.since(), Unhealed: !whole}
	if isMembership(kind) {
		n.currentChange = &rec
		defer func() { n.currentChange = nil }()
		n.membership(kind, &rec)
		rec.Concurrent = n.clear(srcChange)
		n.release(srcChange)
		n.record(rec)
		return
	}
	n.current = &rec
	defer func() { n.current = nil }()
	var heal func() error
	fail := func(err error) {
		n.errorf("%s: %v", kind, err)
	}
	// The nodes are chosen and the fault injected under pickMu; they stay
	// claimed (a concurrent membership change does not choose them) until
	// the fault is healed.
	n.pickMu.Lock()
	picked := false
	donePicking := func() {
		if picked {
			return
		}
		picked = true
		var slots []int
		for i, p := range n.c.procs {
			if slices.Contains(rec.Nodes, p.id) {
				slots = append(slots, i)
			}
		}
		n.claim(srcFault, slots...)
		n.pickMu.Unlock()
	}
	defer donePicking()
	defer n.release(srcFault)
	switch kind {
	case FaultIsolate:
		t := n.pick()
		rec.Nodes = n.names([]int{t})
		n.logf("nemesis t=%.1fs: isolate %s from its peers for %v", rec.AtS, rec.Nodes[0], hold.Round(time.Millisecond))
		for _, j := range n.allBut(t) {
			if err := net.dropIn(t, j); err != nil {
				fail(err)
			}
			if err := net.dropOut(t, j); err != nil {
				fail(err)
			}
		}
		n.set(kind, []int{t}, true)
		heal = func() error { return net.iptables(t, "-F") }
	case FaultPartition:
		// Two members cut from each other; every other member sees both.
		a := n.pick()
		o := n.unclaimed(n.others(a))
		c := o[n.rng.IntN(len(o))]
		a, c = min(a, c), max(a, c)
		rec.Nodes = n.names([]int{a, c})
		rec.Detail = fmt.Sprintf("%s and %s cut, %s see both", n.c.procs[a].id, n.c.procs[c].id, strings.Join(n.names(n.others(a, c)), ","))
		n.logf("nemesis t=%.1fs: bridge partition: %s for %v", rec.AtS, rec.Detail, hold.Round(time.Millisecond))
		if err := net.cutPair(a, c); err != nil {
			fail(err)
		}
		n.set(kind, []int{a, c}, false)
		heal = func() error {
			err := net.iptables(a, "-F")
			if e := net.iptables(c, "-F"); err == nil {
				err = e
			}
			return err
		}
	case FaultOneWay:
		a := n.pick()
		o := n.unclaimed(n.others(a))
		b := o[n.rng.IntN(len(o))]
		rec.Nodes = n.names([]int{a, b})
		rec.Detail = fmt.Sprintf("packets %s -> %s dropped", n.c.procs[a].id, n.c.procs[b].id)
		n.logf("nemesis t=%.1fs: one-way drop: %s for %v", rec.AtS, rec.Detail, hold.Round(time.Millisecond))
		if err := net.dropOut(a, b); err != nil {
			fail(err)
		}
		n.set(kind, []int{a, b}, false)
		heal = func() error { return net.iptables(a, "-F") }
	case FaultKill:
		t := n.pick()
		rec.Nodes = n.names([]int{t})
		n.logf("nemesis t=%.1fs: SIGKILL %s, restart after %v", rec.AtS, rec.Nodes[0], hold.Round(time.Millisecond))
		n.set(kind, []int{t}, true)
		if err := n.c.kill(t); err != nil {
			fail(err)
		}
		heal = func() error { return n.c.start(t, 0, false) }
	case FaultWipe:
		t := n.pick()
		rec.Nodes = n.names([]int{t})
		n.logf("nemesis t=%.1fs: SIGKILL %s and wipe its data directory, restart after %v", rec.AtS, rec.Nodes[0], hold.Round(time.Millisecond))
		n.set(kind, []int{t}, true)
		if err := n.c.kill(t); err != nil {
			fail(err)
		}
		if err := os.RemoveAll(n.c.procs[t].dataDir); err != nil {
			fail(err)
		}
		heal = func() error { return n.c.start(t, 0, false) }
	case FaultPause:
		t := n.pick()
		rec.Nodes = n.names([]int{t})
		n.logf("nemesis t=%.1fs: SIGSTOP %s, SIGCONT after %v", rec.AtS, rec.Nodes[0], hold.Round(time.Millisecond))
		n.set(kind, []int{t}, true)
		if err := n.c.signal(t, syscall.SIGSTOP); err != nil {
			fail(err)
		}
		heal = func() error { return n.c.signal(t, syscall.SIGCONT) }
	case FaultSlow:
		t := n.pick()
		rec.Nodes = n.names([]int{t})
		rec.Detail = fmt.Sprintf("stopped %v-%v, running %v-%v, repeatedly", slowStopMin, slowStopMax, slowRunMin, slowRunMax)
		n.logf("nemesis t=%.1fs: slow %s (SIGSTOP/SIGCONT duty cycle: %s) for %v", rec.AtS, rec.Nodes[0], rec.Detail, hold.Round(time.Millisecond))
		n.set(kind, []int{t}, true)
		stopCycle := n.dutyCycle(t, n.rng.Uint64(), &rec)
		heal = func() error {
			stopCycle()
			return n.c.signal(t, syscall.SIGCONT)
		}
	case FaultSkew:
		t := n.pick()
		off := n.skews[n.rng.IntN(len(n.skews))]
		rec.Nodes = n.names([]int{t})
		rec.Detail = fmt.Sprintf("clock offset %v", off)
		n.logf("nemesis t=%.1fs: restart %s with --clock-offset %v for %v", rec.AtS, rec.Nodes[0], off, hold.Round(time.Millisecond))
		n.set(kind, []int{t}, true)
		if err := n.c.kill(t); err != nil {
			fail(err)
		}
		if err := n.c.start(t, off, false); err != nil {
			fail(err)
		}
		heal = func() error {
			if err := n.c.kill(t); err != nil {
				return err
			}
			return n.c.start(t, 0, false)
		}
	case FaultHintKill:
		t := n.pick()
		n.logf("nemesis t=%.1fs: hint holder kill: isolate %s so the others keep hints for it", rec.AtS, n.c.procs[t].id)
		for _, j := range n.allBut(t) {
			if err := net.dropIn(t, j); err != nil {
				fail(err)
			}
			if err := net.dropOut(t, j); err != nil {
				fail(err)
			}
		}
		n.set(kind, []int{t}, false)
		sleep(ctx, hold*2/5)
		hints, _, err := n.c.hints(context.Background())
		if err != nil {
			n.logf("nemesis: hints: %v", err)
		}
		cands := n.unclaimed(n.others(t))
		h, most := cands[n.rng.IntN(len(cands))], uint64(0)
		sort.Ints(cands)
		for _, j := range cands {
			if p := hints[n.c.procs[j].id][n.c.procs[t].id]; p > most {
				h, most = j, p
			}
		}
		rec.Nodes = n.names([]int{t, h})
		rec.Detail = fmt.Sprintf("%s held %d hints for %s; killed before it could replay them", n.c.procs[h].id, most, n.c.procs[t].id)
		n.logf("nemesis t=%.1fs: %s; healing %s", n.since(), rec.Detail, n.c.procs[t].id)
		if err := n.c.kill(h); err != nil {
			fail(err)
		}
		if err := net.iptables(t, "-F"); err != nil {
			fail(err)
		}
		n.set(kind, []int{t, h}, false)
		hold -= hold * 2 / 5
		heal = func() error { return n.c.start(h, 0, false) }
	default:
		n.errorf("unknown fault kind %q", kind)
		return
	}
	donePicking()
	sleep(ctx, hold)
	if err := heal(); err != nil {
		n.errorf("heal %s %v: %v", kind, rec.Nodes, err)
	}
	rec.Concurrent = n.clear(srcFault)
	rec.HealedS = n.since()
	n.logf("nemesis t=%.1fs: healed %s %v", rec.HealedS, kind, rec.Nodes)
	n.record(rec)
}

// dutyCycle stops and continues node t in a loop (see slowStopMin) until
// the returned function is called; that function waits for the loop to end
// with the node continued and notes the cycles run in rec's detail. The
// loop draws its times from its own generator seeded with seed (the
// nemesis' generator stays with the nemesis goroutine).
func (n *nemesis) dutyCycle(t int, seed uint64, rec *FaultRecord) func() {
	stop := make(chan struct{})
	done := make(chan int)
	rng := rand.New(rand.NewPCG(seed, 0x736c6f77))
	between := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	wait := func(d time.Duration) bool {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-stop:
			return false
		case <-tm.C:
			return true
		}
	}
	go func() {
		cycles := 0
		defer func() { done <- cycles }()
		for {
			if err := n.c.signal(t, syscall.SIGSTOP); err != nil {
				n.errorf("slow %s: %v", n.c.procs[t].id, err)
				return
			}
			cycles++
			ok := wait(between(slowStopMin, slowStopMax))
			if err := n.c.signal(t, syscall.SIGCONT); err != nil {
				n.errorf("slow %s: %v", n.c.procs[t].id, err)
				return
			}
			if !ok || !wait(between(slowRunMin, slowRunMax)) {
				return
			}
		}
	}()
	return func() {
		close(stop)
		rec.Detail += fmt.Sprintf(", %d stops", <-done)
	}
}

// healAll undoes every fault: network rules flushed, paused nodes
// continued, dead or skewed members (re)started without an offset. Spare
// slots stay down.
func (c *cluster) healAll() error {
	var errs []error
	if err := c.net.healAll(); err != nil {
		errs = append(errs, err)
	}
	for i, p := range c.procs {
		if !p.isMember() {
			continue
		}
		p.mu.Lock()
		running, paused, off := p.cmd != nil, p.paused, p.offset
		p.mu.Unlock()
		if paused {
			if err := c.signal(i, syscall.SIGCONT); err != nil {
				errs = append(errs, err)
			}
		}
		if running && off != 0 {
			if err := c.kill(i); err != nil {
				errs = append(errs, err)
			}
			running = false
		}
		if !running {
			if err := c.start(i, 0, false); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("heal: %v", errs)
	}
	return nil
}
