package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/ring"
)

// Membership faults change the ring while the workloads run: a spare slot
// joins, a member leaves (`ring leave`) and is stopped once removed, a dead
// member is removed (`ring remove`) and comes back with a wiped disk, and a
// node that left is restarted on its old data dir. Each lasts until the
// ring has settled again (every member up and valid, one epoch, no
// transfers; bounded by memberships.settle), and records when it began,
// when the ring epoch changed (each commit) and when it settled. After it
// settled the checker reads at ONE, through every member that gained
// partitions in the change (all of a joiner's), a sample of the unique keys
// acknowledged before the change began: a "not found" means a member
// counted as holding a partition before it held the data.

// memberships is the nemesis's side of ring changes.
type memberships struct {
	settle                 time.Duration // bound on the wait for a change to settle
	minMembers, maxMembers int
	watch                  *epochWatch
	m                      *model
	partitions, replicas   int
	timeout                time.Duration // of one read at ONE
	seed                   uint64

	mu          sync.Mutex
	oneReads    int
	oneNotFound int
	oneWrong    int
	oneErrors   int
	oneExamples []string
	settled     int
	failed      int
}

func (ms *memberships) note(format string, args ...any) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if len(ms.oneExamples) < 20 {
		ms.oneExamples = append(ms.oneExamples, fmt.Sprintf(format, args...))
	}
}

// planMembership turns the kind drawn into one that keeps the member count
// within [minMembers, maxMembers] and has a slot to act on: a join needs a
// spare slot (a never used one first), a rejoin a spare that holds data, a
// leave or a remove a member more than the minimum (not one a concurrent
// fault holds). A kind that cannot run becomes the nearest one that can.
func (n *nemesis) planMembership(kind string, leaving []string) (string, int, bool) {
	mem := slices.DeleteFunc(n.c.memberSlots(), func(i int) bool { return slices.Contains(leaving, n.c.procs[i].id) })
	free := slices.DeleteFunc(slices.Clone(mem), func(i int) bool { return n.claimedByOther(srcChange, i) })
	var fresh, used []int
	for _, i := range n.c.spareSlots() {
		if n.c.procs[i].hasData() {
			used = append(used, i)
		} else {
			fresh = append(fresh, i)
		}
	}
	canGrow := len(mem)+len(leaving) < n.mem.maxMembers && len(fresh)+len(used) > 0
	canShrink := len(mem) > n.mem.minMembers && len(free) > 0
	of := func(s []int) int { return s[n.memberRng.IntN(len(s))] }
	grow := func(prefer string) (string, int, bool) {
		switch {
		case prefer == FaultRejoin && len(used) > 0:
			return FaultRejoin, of(used), true
		case len(fresh) > 0:
			return FaultJoin, of(fresh), true
		default:
			return FaultRejoin, of(used), true
		}
	}
	switch kind {
	case FaultJoin, FaultRejoin:
		if canGrow {
			return grow(kind)
		}
		if canShrink {
			return FaultLeave, of(free), true
		}
	case FaultLeave, FaultRemove:
		if canShrink {
			return kind, of(free), true
		}
		if canGrow {
			return grow(FaultRejoin)
		}
	}
	return "", -1, false
}

// membership runs one membership change to its end (it uses the run's
// context, not the fault phase's: a change asked for finishes).
func (n *nemesis) membership(drawn string, rec *FaultRecord) {
	ctx := n.outer
	// The bounds hold for the ring as it is (a change that did not settle
	// may have finished since, or still be under way). The slot is chosen
	// and claimed under pickMu (a concurrent fault does not choose it).
	n.pickMu.Lock()
	leaving := n.resync(ctx)
	kind, t, ok := n.planMembership(drawn, leaving)
	if ok {
		n.claim(srcChange, t)
	}
	n.pickMu.Unlock()
	if !ok {
		rec.Failed = fmt.Sprintf("no slot for a %s with members %v", drawn, n.c.memberIDs())
		n.errorf("%s", rec.Failed)
		return
	}
	rec.Kind = kind
	p := n.c.procs[t]
	rec.Nodes = []string{p.id}
	began := time.Since(n.start)
	// A member still leaving (a change that did not settle) is not waited
	// for: the ring settles once it is out.
	before := slices.DeleteFunc(n.c.memberSlots(), func(i int) bool { return slices.Contains(leaving, n.c.procs[i].id) })
	rec.EpochBefore = n.mem.watch.epoch()
	n.set(kind, []int{t}, true)
	var err error
	switch kind {
	case FaultJoin, FaultRejoin:
		if kind == FaultJoin && p.hasData() {
			// A slot that served before joins as a new machine would.
			if err := os.RemoveAll(p.dataDir); err != nil {
				n.errorf("join: wipe %s: %v", p.dataDir, err)
			}
			rec.Detail = "a spare slot that served before: its old data dir wiped first"
		} else if kind == FaultRejoin {
			rec.Detail = "restarted on the data dir it left with"
		}
		n.logf("nemesis t=%.1fs: %s %s (members %v)", rec.AtS, kind, p.id, n.c.memberIDs())
		after := append(slices.Clone(before), t)
		err = n.joinSlot(ctx, t, after)
		n.settledAt(rec, after, err)
		if err == nil {
			n.oneReads(ctx, rec, before, after, began)
		}
	case FaultLeave:
		after := without(before, t)
		n.logf("nemesis t=%.1fs: ring leave --node %s (members %v)", rec.AtS, p.id, n.c.memberIDs())
		err = n.memberChange(ctx, t, after, false)
		if err == nil {
			err = n.c.waitSettled(ctx, after, n.mem.settle)
		}
		if err == nil {
			// Out of the ring: stop it; the slot keeps its data dir.
			p.setMember(false)
			if e := n.c.stop(t, syscall.SIGTERM, 10*time.Second); e != nil {
				n.errorf("leave: stop %s: %v", p.id, e)
			}
			n.settledAt(rec, after, nil)
			n.oneReads(ctx, rec, before, after, began)
		} else {
			n.settledAt(rec, before, err)
		}
	case FaultRemove:
		after := without(before, t)
		n.logf("nemesis t=%.1fs: SIGKILL %s, ring remove, wipe, restart (members %v)", rec.AtS, p.id, n.c.memberIDs())
		if e := n.c.kill(t); e != nil {
			n.errorf("remove: kill %s: %v", p.id, e)
		}
		p.setMember(false)
		err = n.memberChange(ctx, t, after, true)
		if err == nil {
			err = n.c.waitSettled(ctx, after, n.mem.settle)
		}
		if err == nil {
			s := n.since()
			rec.Detail = fmt.Sprintf("removed; the others settled at t=%.1fs; restarted with a wiped disk", s)
			n.logf("nemesis t=%.1fs: %s removed, the ring settled on %v", s, p.id, n.c.idsOf(after))
			n.oneReads(ctx, rec, before, after, began)
		} else {
			rec.Detail = "remove did not settle: " + err.Error()
			n.errorf("remove %s: %v", p.id, err)
		}
		if e := os.RemoveAll(p.dataDir); e != nil {
			n.errorf("remove: wipe %s: %v", p.dataDir, e)
		}
		rejoin := time.Since(n.start)
		err2 := n.joinSlot(ctx, t, before)
		n.settledAt(rec, before, errors.Join(err, err2))
		if err2 == nil {
			n.oneReads(ctx, rec, after, before, rejoin)
		}
	}
}

// joinSlot starts slot t (it joins by itself) and waits until the ring
// settles on members.
func (n *nemesis) joinSlot(ctx context.Context, t int, members []int) error {
	n.c.procs[t].setMember(true)
	if err := n.c.start(t, 0, false); err != nil {
		return err
	}
	return n.c.waitSettled(ctx, members, n.mem.settle)
}

// memberChange asks another member for a leave (or remove) of t, retrying
// for a while: a remove is refused while the others still see t up.
func (n *nemesis) memberChange(ctx context.Context, t int, others []int, remove bool) error {
	id := n.c.procs[t].id
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for k := 0; ; k++ {
		via := n.c.procs[others[k%len(others)]]
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if remove {
			_, err = via.kv.Remove(cctx, client.MemberChange{Node: id})
		} else {
			_, err = via.kv.Leave(cctx, client.MemberChange{Node: id})
		}
		cancel()
		if err == nil {
			return nil
		}
		last = fmt.Errorf("%s via %s: %w", verb(remove), via.id, err)
		if ctx.Err() != nil || time.Now().After(deadline) || errCode(err) == codes.InvalidArgument {
			return last
		}
		n.logf("nemesis: %v (retrying)", last)
		time.Sleep(300 * time.Millisecond)
	}
}

func verb(remove bool) string {
	if remove {
		return "ring remove"
	}
	return "ring leave"
}

func without(s []int, x int) []int {
	out := make([]int, 0, len(s))
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// resync brings the harness's member set in line with the ring, which
// differ only after a change that did not settle (the run has failed
// already; the rest of it should still test what it can): a slot the ring
// lists becomes a member (started if down), a member it does not list
// becomes a spare (stopped; it keeps its data dir). It returns the members
// still leaving.
func (n *nemesis) resync(ctx context.Context) (leaving []string) {
	listed, states, err := n.c.ringMembers(ctx)
	if err != nil {
		n.errorf("resync: %v", err)
		return nil
	}
	for id, st := range states {
		if st == ring.StateLeaving.String() {
			leaving = append(leaving, id)
		}
	}
	for i, p := range n.c.procs {
		in := slices.Contains(listed, p.id)
		switch {
		case in && !p.isMember():
			n.logf("nemesis: resync: the ring lists %s: a member again", p.id)
			p.setMember(true)
			if err := n.c.start(i, 0, false); err != nil {
				n.errorf("resync: start %s: %v", p.id, err)
			}
		case !in && p.isMember():
			n.logf("nemesis: resync: the ring does not list %s: stopped, a spare", p.id)
			p.setMember(false)
			if err := n.c.stop(i, syscall.SIGTERM, 10*time.Second); err != nil {
				n.errorf("resync: stop %s: %v", p.id, err)
			}
		}
	}
	return leaving
}

// settledAt closes a membership change's record.
func (n *nemesis) settledAt(rec *FaultRecord, members []int, err error) {
	s := n.since()
	rec.SettledS, rec.HealedS = &s, s
	n.mem.watch.poll(n.outer, false) // the watcher may not have seen the last commit yet
	rec.EpochAfter = n.mem.watch.epoch()
	rec.CommittedS = n.mem.watch.commitsBetween(rec.AtS, n.since()+0.1)
	rec.MembersAfter = n.c.idsOf(members)
	n.mem.mu.Lock()
	if err != nil {
		n.mem.failed++
	} else {
		n.mem.settled++
	}
	n.mem.mu.Unlock()
	if err != nil {
		if rec.Failed == "" {
			rec.Failed = err.Error()
		}
		n.errorf("%s %v: %v", rec.Kind, rec.Nodes, err)
		_ = n.resync(n.outer)
		rec.MembersAfter = n.c.memberIDs()
		return
	}
	n.logf("nemesis t=%.1fs: %s %v settled: epoch %d -> %d (commits seen at %v), members %v",
		s, rec.Kind, rec.Nodes, rec.EpochBefore, rec.EpochAfter, rec.CommittedS, rec.MembersAfter)
}

// oneReads reads at ONE, through every member of after that replicates
// partitions it did not replicate in before, a sample of the unique keys
// acknowledged before the change began that fall in those partitions (the
// newest first: a node that rejoins on an old data dir holds the older
// ones). A member that has settled must hold them: any "not found" fails
// the run.
func (n *nemesis) oneReads(ctx context.Context, rec *FaultRecord, before, after []int, began time.Duration) {
	cfg := ring.ClusterConfig{Partitions: n.mem.partitions, Replicas: n.mem.replicas}
	rb, err := ring.Build(cfg, n.c.idsOf(before), nil)
	if err != nil {
		n.errorf("one reads: %v", err)
		return
	}
	ra, err := ring.Build(cfg, n.c.idsOf(after), nil)
	if err != nil {
		n.errorf("one reads: %v", err)
		return
	}
	keys := n.mem.m.ackedUniqueBefore(began)
	r := rand.New(rand.NewPCG(n.mem.seed, uint64(began)))
	type read struct {
		slot int
		k    ackedKey
	}
	var reads []read
	for _, t := range after {
		id := n.c.procs[t].id
		var gained []ackedKey
		for _, k := range keys {
			p := ra.Partition([]byte(k.key))
			if ra.IsReplica(p, id) && !rb.IsReplica(p, id) {
				gained = append(gained, k)
			}
		}
		per := 40
		if !slices.Contains(before, t) {
			per = 150 // the joiner
		}
		for _, k := range sampleKeys(gained, per, r) {
			reads = append(reads, read{t, k})
		}
	}
	if len(reads) == 0 {
		return
	}
	var mu sync.Mutex
	notFound, wrong, errs := 0, 0, 0
	work := make(chan read)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rd := range work {
				p := n.c.procs[rd.slot]
				cctx, cancel := context.WithTimeout(ctx, n.mem.timeout)
				res, err := p.kv.Get(cctx, []byte(rd.k.key), client.WithLevel(client.One))
				cancel()
				mu.Lock()
				switch {
				case errors.Is(err, client.ErrNotFound):
					notFound++
					n.mem.note("after %s %v (began t=%.1fs, settled t=%.1fs): read at ONE through %s of %s (acknowledged at t=%.1fs by %v, partition %d) answered not found",
						rec.Kind, rec.Nodes, began.Seconds(), n.since(), p.id, rd.k.key, rd.k.at.Seconds(), rd.k.replicas, ra.Partition([]byte(rd.k.key)))
				case err != nil:
					errs++
				default:
					for _, v := range res.Values {
						if string(v) != rd.k.value {
							wrong++
							n.mem.note("after %s %v: read at ONE through %s of %s returned %q, never written", rec.Kind, rec.Nodes, p.id, rd.k.key, v)
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	for _, rd := range reads {
		work <- rd
	}
	close(work)
	wg.Wait()
	rec.OneReads += len(reads)
	rec.OneNotFound += notFound
	n.mem.mu.Lock()
	n.mem.oneReads += len(reads)
	n.mem.oneNotFound += notFound
	n.mem.oneWrong += wrong
	n.mem.oneErrors += errs
	n.mem.mu.Unlock()
	n.logf("nemesis: %d reads at ONE after %s %v: %d not found, %d wrong, %d failed", len(reads), rec.Kind, rec.Nodes, notFound, wrong, errs)
}

// sampleKeys takes the per/2 newest keys and per/2 others at random.
func sampleKeys(keys []ackedKey, per int, r *rand.Rand) []ackedKey {
	if len(keys) <= per {
		return keys
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].at > keys[j].at })
	out := slices.Clone(keys[:per/2])
	rest := keys[per/2:]
	for _, i := range r.Perm(len(rest))[:per-per/2] {
		out = append(out, rest[i])
	}
	return out
}

// --- the epoch watcher ---

// commitMark is an epoch change: first seen by the poll that ran from From
// to To (since the workloads started); the previous poll, at From, still
// saw the older epoch.
type commitMark struct {
	From  time.Duration `json:"-"`
	To    time.Duration `json:"-"`
	AtS   float64       `json:"at_s"`
	Epoch uint64        `json:"epoch"`
	Node  string        `json:"seen_on"`
}

// epochWatch polls every running node's ring epoch (every 250 ms) and
// tombstone counters (every second) through the run.
type epochWatch struct {
	c     *cluster
	start time.Time
	every time.Duration
	logf  func(string, ...any)

	mu       sync.Mutex
	max      uint64
	seen     bool
	lastPoll time.Duration
	commits  []commitMark
	// reaped: per node, the tombstones reaped in earlier lives (counters
	// restart with the process) and the last count seen.
	reapBase, reapLast map[string]uint64
}

func newEpochWatch(c *cluster, start time.Time) *epochWatch {
	return &epochWatch{c: c, start: start, every: 250 * time.Millisecond, logf: c.logf, reapBase: map[string]uint64{}, reapLast: map[string]uint64{}}
}

func (w *epochWatch) epoch() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.max
}

func (w *epochWatch) commitsBetween(from, to float64) []float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []float64
	for _, c := range w.commits {
		if c.AtS >= from && c.AtS <= to {
			out = append(out, c.AtS)
		}
	}
	return out
}

func (w *epochWatch) marks() []commitMark {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.commits)
}

// reaped is the tombstones reaped so far, over every node and its lives
// (at least: a life shorter than a poll is not seen).
func (w *epochWatch) reaped() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var n uint64
	for id, b := range w.reapBase {
		n += b + w.reapLast[id]
	}
	for id, l := range w.reapLast {
		if _, ok := w.reapBase[id]; !ok {
			n += l
		}
	}
	return n
}

func (w *epochWatch) run(ctx context.Context) {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for k := 0; ; k++ {
		w.poll(ctx, k%4 == 0)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *epochWatch) poll(ctx context.Context, counters bool) {
	from := time.Since(w.start)
	type answer struct {
		id        string
		epoch     uint64
		reaped    uint64
		hasEpoch  bool
		hasReaped bool
		ring      string // the members as the node lists them
	}
	var mu sync.Mutex
	var got []answer
	var wg sync.WaitGroup
	for _, p := range w.c.procs {
		if !p.running() || p.isPaused() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := answer{id: p.id}
			cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			if st, err := p.kv.RingStatus(cctx); err == nil {
				a.epoch, a.hasEpoch = st.GetEpoch(), true
				var ms []string
				for _, m := range st.GetMembers() {
					ms = append(ms, fmt.Sprintf("%s:%s/%d", m.GetId(), m.GetState(), m.GetPartitions()))
				}
				a.ring = strings.Join(ms, " ")
			}
			cancel()
			if counters {
				cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				if st, err := p.kv.NodeStatus(cctx); err == nil {
					a.reaped, a.hasReaped = st.GetTombstonesReaped(), true
				}
				cancel()
			}
			mu.Lock()
			got = append(got, a)
			mu.Unlock()
		}()
	}
	wg.Wait()
	to := time.Since(w.start)
	w.mu.Lock()
	defer w.mu.Unlock()
	var top uint64
	var on, ringOn string
	for _, a := range got {
		if a.hasEpoch && a.epoch > top {
			top, on, ringOn = a.epoch, a.id, a.ring
		}
		if a.hasReaped {
			if a.reaped < w.reapLast[a.id] { // a new life
				w.reapBase[a.id] += w.reapLast[a.id]
			}
			w.reapLast[a.id] = a.reaped
		}
	}
	if top > w.max {
		if w.seen {
			prev := w.lastPoll
			w.commits = append(w.commits, commitMark{From: prev, To: to, AtS: round1(to.Seconds()), Epoch: top, Node: on})
			w.logf("epoch %d first seen at t=%.1fs on %s: %s", top, to.Seconds(), on, ringOn)
		}
		w.max = top
	}
	if len(got) > 0 {
		w.seen = true
	}
	w.lastPoll = from
}
