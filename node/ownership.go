package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/ring"
)

// ownership keeps track of the partitions this node holds and moves them
// when the membership changes. A node that gains a partition (it joins, a
// member leaves or is removed, its disk was wiped) pulls it from a quorum
// of the current replicas with anti-entropy exchanges — the Merkle diff
// makes a pull resumable after a restart of either side and cheap for data
// already there — and only then holds it. A node that loses a partition
// transfers it to the nodes gaining it before it says it is ready (and
// passes on the writes it takes afterwards, see forwardApplies). Once every
// member the change waits for is ready, any node commits it; a node drops
// the partitions it neither replicates nor gains, and a joiner that is
// down or stuck too long is parked so that it blocks nobody.
//
// A partition is in one of three states here, persisted: held (owned: this
// node has all of it and keeps it current), being pulled (its data is a
// pull in progress), or neither (any data is left over and is dropped).
// A partition being pulled may also be repairing: this node replicated it
// and lost data (its store opened as a new incarnation), so it pulls it
// from every other replica that is up (see refill.go).
type ownership struct {
	n       *Node
	log     *slog.Logger
	space   *replica.Space
	limiter *rate.Limiter
	wake    chan struct{}
	park    parking

	mu        sync.Mutex
	owned     []bool
	pulling   []bool
	repairing []bool
	dirty     bool              // owned, pulling or repairing changed since they were persisted
	gen       uint64            // the member generation the data belongs to
	sent      map[int]string    // partition → change it was transferred out for
	lostAt    map[int]time.Time // partitions lost and not dropped yet: since when
	transfers map[int]*Transfer
}

// Transfer is one partition this node is pulling.
type Transfer struct {
	Partition int
	Sources   []string
	State     TransferState
	KeysMoved int
	Error     string
	Since     time.Time
}

// TransferState is where the pull of one partition stands.
type TransferState uint8

const (
	// TransferWaiting: not started yet, or short of its quorum of sources.
	TransferWaiting TransferState = iota
	// TransferRunning: an exchange with a source is in progress.
	TransferRunning
	// TransferFailed: the last exchange failed; the next step retries.
	TransferFailed
)

// String is the state's name in status output.
func (s TransferState) String() string {
	switch s {
	case TransferWaiting:
		return "waiting"
	case TransferRunning:
		return "running"
	case TransferFailed:
		return "failed"
	}
	return fmt.Sprintf("TransferState(%d)", uint8(s))
}

const (
	ownershipTick  = 500 * time.Millisecond
	ownershipRetry = 20 * time.Millisecond
	// Transfers are throttled by the keys they move (an exchange of equal
	// partitions moves nothing and is not throttled).
	transferKeysPerS  = 20000
	transferKeysBurst = 2 * 1000 // ≥ one exchange's repairs
	// exchangeTimeout bounds one exchange (at most 1,000 keys repaired),
	// so a peer cut off mid-exchange cannot stall the loop for long.
	exchangeTimeout = 10 * time.Second
	// rootsTimeout bounds one TreeRoots call.
	rootsTimeout = 5 * time.Second
)

// Persisted state, in the store's transfer state space.
const (
	ownedKey     = "owned"
	pullingKey   = "pulling"
	repairingKey = "repairing"
	genKey       = "gen"
)

func newOwnership(n *Node) (*ownership, error) {
	space, err := n.store.TransferState()
	if err != nil {
		return nil, err
	}
	o := &ownership{
		n:         n,
		log:       n.log.With("component", "ownership"),
		space:     space,
		limiter:   rate.NewLimiter(transferKeysPerS, transferKeysBurst),
		wake:      make(chan struct{}, 1),
		park:      newParking(n.cfg.ParkAfter, n.cfg.StuckAfter, n.cfg.Clock),
		owned:     make([]bool, n.cfg.Partitions),
		pulling:   make([]bool, n.cfg.Partitions),
		repairing: make([]bool, n.cfg.Partitions),
		sent:      map[int]string{},
		transfers: map[int]*Transfer{},
	}
	err = o.space.Scan(nil, nil, func(k, v []byte) error {
		switch string(k) {
		case ownedKey:
			readBits(v, o.owned)
		case pullingKey:
			readBits(v, o.pulling)
		case repairingKey:
			readBits(v, o.repairing)
		case genKey:
			if len(v) == 8 {
				o.gen = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A ring of this node alone (a cluster just founded) has nothing to
	// pull: it holds everything from the start.
	if r := n.members.Ring(); r.Len() == 1 && r.Contains(n.cfg.ID) {
		for p := range o.owned {
			o.owned[p] = true
		}
	}
	if n.store.Fresh() {
		if err := o.startRefill(n.members.View().Ring); err != nil {
			return nil, err
		}
	}
	// Before any loop starts (hint replay, anti-entropy): a node that joins
	// afresh sends nothing it held before.
	return o, o.checkGen(n.members.Doc())
}

func readBits(v []byte, out []bool) {
	for p := range out {
		out[p] = p/8 < len(v) && v[p/8]&(1<<(p%8)) != 0
	}
}

func bits(in []bool) []byte {
	out := make([]byte, (len(in)+7)/8)
	for i, b := range in {
		if b {
			out[i/8] |= 1 << (i % 8)
		}
	}
	return out
}

// kick asks for a step soon (the membership changed).
func (o *ownership) kick() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// run steps on every membership change, every ownershipTick, and sooner
// (ownershipRetry, doubling up to the tick) while a step leaves work to do.
func (o *ownership) run(ctx context.Context) {
	wait := ownershipTick
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-o.wake:
		}
		if o.step(ctx) {
			wait = ownershipTick
		} else {
			wait = min(max(ownershipRetry, wait*2), ownershipTick)
		}
		t.Reset(wait)
	}
}

// step does one pass: start afresh after a new join generation, drop what
// this node no longer replicates, pull what it gains, transfer out what
// it loses, declare readiness, commit a change that is ready, park joiners
// that block it. It reports whether it left nothing to do but wait for
// others (the ring is stable and this node holds its partitions).
func (o *ownership) step(ctx context.Context) bool {
	m := o.n.members
	doc, v := m.Snapshot()
	self := o.n.cfg.ID
	if err := o.checkGen(doc); err != nil {
		o.log.Error("cannot discard the data of an earlier join", "err", err)
		return false
	}
	ch := doc.Change()
	var gain, lose, lost []int
	for p := range o.n.cfg.Partitions {
		inCur, inTgt := v.Ring.IsReplica(p, self), v.Target.IsReplica(p, self)
		switch {
		case inCur && !inTgt:
			lose = append(lose, p)
		case !inCur && !inTgt:
			// Nothing of p is pulled any more, whatever an earlier
			// target gave this node.
			o.forgetTransfer(p)
			if o.holdsAny(p) {
				// It refuses p's writes from now on: what it has is no
				// longer current (should p come back, it is pulled again).
				o.set(p, false, false)
				lost = append(lost, p)
			}
		}
		if inTgt && !o.isOwned(p) {
			gain = append(gain, p)
		}
	}
	if !v.Changing() {
		// Only once the ring is stable: while a change is in progress its
		// target may still move back to a ring that gives p to this node.
		o.release(lost)
	}
	pulled := o.pull(ctx, doc, v, gain)
	sent := o.transferOut(ctx, changeKey(doc, ch), v, lose)
	if err := o.flush(); err != nil {
		o.log.Error("cannot persist the partitions held", "err", err)
		return false
	}
	if ctx.Err() != nil {
		return true
	}
	// Readiness always speaks of the change this node sees now: when it is
	// not ready for that one, it withdraws any earlier claim.
	if pulled && sent && slices.Contains(ch.MustBeReady(), self) {
		m.SetReady(ch.Epoch, ch.Signature())
	} else {
		m.SetReady(0, "")
	}
	m.SetEmpty(o.n.store.Empty())
	m.SetHeld(o.n.HeldPartitions())
	o.commit()
	o.parkJoiners(ch)
	return pulled && sent && !ch.Pending()
}

// checkGen discards everything this node holds — partitions and hints —
// when its entry carries a join generation other than the one its data
// belongs to: it joins afresh (it was removed or parked, and reapers
// stopped counting it, so what it holds may predate a reaped delete).
func (o *ownership) checkGen(doc ring.Doc) error {
	self, ok := doc.Members[o.n.cfg.ID]
	if !ok || doc.Ring.Contains(self.ID) || self.Gen == 0 {
		return nil
	}
	o.mu.Lock()
	same := self.Gen == o.gen
	o.mu.Unlock()
	if same {
		return nil
	}
	o.log.Info("joining afresh: discarding what the data directory holds", "generation", self.Gen)
	if o.n.hints != nil {
		if err := o.n.hints.Clear(); err != nil {
			return err
		}
	}
	// A joiner holds nothing of its own to repair: it pulls what it gains
	// by the joiners' rule (a quorum of the current replicas), not by the
	// refill's (every replica that is up). A partition pulled only for the
	// refill holds nothing to discard unless it holds keys.
	o.mu.Lock()
	for p := range o.repairing {
		if o.repairing[p] {
			o.repairing[p], o.pulling[p], o.dirty = false, false, true
		}
	}
	o.mu.Unlock()
	for p := range o.n.cfg.Partitions {
		o.mu.Lock()
		held := o.owned[p] || o.pulling[p]
		o.mu.Unlock()
		if !held && o.n.store.PartitionKeys(p) == 0 {
			continue
		}
		if err := o.drop(p); err != nil {
			return err
		}
	}
	o.mu.Lock()
	o.gen = self.Gen
	o.mu.Unlock()
	if err := o.flush(); err != nil {
		return err
	}
	return o.space.Set([]byte(genKey), binary.BigEndian.AppendUint64(nil, self.Gen))
}

func (o *ownership) isOwned(p int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.owned[p]
}

// set records whether this node holds all of p and whether it is pulling
// p; flush makes it durable. Losing a set that was not flushed yet is safe:
// a partition not recorded as held is pulled again (cheaply: its roots
// agree), and data not recorded as being pulled is dropped and pulled again.
func (o *ownership) set(p int, owned, pulling bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	// A partition held, or no longer pulled, is no longer repairing.
	repairing := o.repairing[p] && !owned && pulling
	if o.owned[p] == owned && o.pulling[p] == pulling && o.repairing[p] == repairing {
		return
	}
	o.owned[p], o.pulling[p], o.repairing[p] = owned, pulling, repairing
	o.dirty = true
}

// flush persists owned and pulling if they changed.
func (o *ownership) flush() error {
	o.mu.Lock()
	if !o.dirty {
		o.mu.Unlock()
		return nil
	}
	ob, pb, rb := bits(o.owned), bits(o.pulling), bits(o.repairing)
	o.dirty = false
	o.mu.Unlock()
	if err := o.space.Set([]byte(ownedKey), ob); err != nil {
		return fmt.Errorf("persist held partitions: %w", err)
	}
	if err := o.space.Set([]byte(pullingKey), pb); err != nil {
		return fmt.Errorf("persist partitions being pulled: %w", err)
	}
	if err := o.space.Set([]byte(repairingKey), rb); err != nil {
		return fmt.Errorf("persist partitions being repaired: %w", err)
	}
	return nil
}

// changeKey names change ch for outgoing transfers: its epoch, its target
// and the join generations of its joiners (a joiner parked and taken up
// again at the same epoch discarded what it was sent before).
func changeKey(doc ring.Doc, ch ring.Change) string {
	key := fmt.Sprintf("%d/%s", ch.Epoch, ch.Signature())
	for _, id := range ch.Joining {
		key += fmt.Sprintf("/%s:%d", id, doc.Members[id].Gen)
	}
	return key
}

// forgetTransfer drops p's transfer record: this node no longer gains p.
func (o *ownership) forgetTransfer(p int) {
	o.mu.Lock()
	delete(o.transfers, p)
	o.mu.Unlock()
}

// holdsAny reports whether this node holds, pulls or stores any of p.
func (o *ownership) holdsAny(p int) bool {
	o.mu.Lock()
	held := o.owned[p] || o.pulling[p]
	o.mu.Unlock()
	return held || o.n.store.PartitionKeys(p) > 0
}

// drop forgets p (durably), then deletes its data: a crash in between
// leaves data that is neither held nor being pulled, which the next step
// drops.
func (o *ownership) drop(p int) error {
	o.set(p, false, false)
	if err := o.flush(); err != nil {
		return err
	}
	o.mu.Lock()
	delete(o.transfers, p)
	delete(o.sent, p)
	o.mu.Unlock()
	defer o.n.leases.records.clear()
	return o.n.store.DropPartition(p)
}

// commit installs the next ring once the change can be committed. Any
// node may do it; a commit is the successor of one epoch, so two nodes
// committing the same change write the same record.
func (o *ownership) commit() {
	m := o.n.members
	if r, ok := m.NextRing(); ok && m.Commit(r) {
		o.log.Info("membership change committed", "epoch", r.Epoch, "ring", r.Members)
	}
}

// Transfers lists the partitions this node is pulling now: every
// partition it replicates or gains but does not hold completely yet (those
// its loop has not reached yet are waiting).
func (n *Node) Transfers() []Transfer {
	o := n.own
	v := n.members.View()
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]Transfer, 0, len(o.transfers))
	for _, t := range o.transfers {
		c := *t
		c.Sources = slices.Clone(t.Sources)
		out = append(out, c)
	}
	for p, held := range o.owned {
		if held || o.transfers[p] != nil || !v.Target.IsReplica(p, n.cfg.ID) {
			continue
		}
		out = append(out, Transfer{Partition: p, Sources: without(v.Ring.Preference(p), n.cfg.ID), State: TransferWaiting})
	}
	slices.SortFunc(out, func(a, b Transfer) int { return a.Partition - b.Partition })
	return out
}

// HeldPartitions counts the partitions this node holds completely.
func (n *Node) HeldPartitions() int {
	o := n.own
	o.mu.Lock()
	defer o.mu.Unlock()
	c := 0
	for _, held := range o.owned {
		if held {
			c++
		}
	}
	return c
}
