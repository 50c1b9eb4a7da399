package ring

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

const (
	leaveTimeout = time.Second
	inboxSize    = 64
)

// Membership runs memberlist for liveness and gossips, merges and persists
// the member Doc; Ring() is rebuilt whenever the ring member set changes.
// A down node stays in the ring: membership is not liveness.
type Membership struct {
	cfg   MembershipConfig
	log   *slog.Logger
	hash  string // cfg.Cluster.Hash()
	meta  []byte // memberlist node meta
	self  Member // this node's entry as it should be (Version aside)
	list  *memberlist.Memberlist
	bcast *memberlist.TransmitLimitedQueue

	mu   sync.Mutex // guards doc; serializes commit (persist, broadcast, ring swap)
	doc  Doc
	view atomic.Pointer[View] // rings of doc (swapped under mu)

	syncMu   sync.Mutex
	syncedAt map[string]time.Time // last push-pull asked for, per peer (SyncWith)

	aliveMu sync.RWMutex
	alive   map[string]bool // other nodes memberlist reports alive
	// seen are those nodes of this cluster as memberlist last reported
	// them (copied in its callbacks, which hold its lock).
	seen     map[string]Candidate
	numAlive atomic.Int32 // including self

	cbMu      sync.Mutex
	callbacks []func()
	changed   chan struct{} // coalesced "something changed" signal
	inbox     chan Doc      // decoded broadcasts awaiting merge

	mismatch atomic.Pointer[ClusterMismatchError] // last peer refused
	admit    admission                            // nodes whose identity Admit accepted

	// rejoining: this node started as a fresh joiner and no peer has
	// confirmed its join yet (guarded by mu).
	rejoining bool

	// newSeeds carries the seed sources' "new seeds" signals to the
	// re-join loop.
	newSeeds chan struct{}

	stop chan struct{}
	// ctx is cancelled when the membership stops (it bounds seed sources).
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	shutdownOnce sync.Once
	shutdownErr  error
}

// View is one consistent look at placement: the committed ring, its epoch
// and the target ring (the same *Ring as Ring when no change is in
// progress).
type View struct {
	Epoch  uint64
	Ring   *Ring
	Target *Ring
}

// Changing reports a membership change in progress.
func (v *View) Changing() bool { return v.Ring != v.Target }

// StartMembership loads the persisted document (refusing one of another
// cluster), records this node's entry (see startEntry) with its current
// addresses, starts memberlist, joins the seeds and persists the document.
// Unreachable seeds are not an error (the re-join loop keeps trying); a
// seed of another cluster is, and then nothing is persisted.
func StartMembership(cfg MembershipConfig) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.Seeds = slices.Clone(cfg.Seeds)
	m := &Membership{
		cfg:      cfg,
		log:      cfg.Logger.With("node", cfg.NodeID),
		hash:     cfg.Cluster.Hash(),
		alive:    map[string]bool{},
		seen:     map[string]Candidate{},
		syncedAt: map[string]time.Time{},
		changed:  make(chan struct{}, 1),
		inbox:    make(chan Doc, inboxSize),
		newSeeds: make(chan struct{}, 1),
		stop:     make(chan struct{}),
	}
	m.numAlive.Store(1)
	doc, err := loadDoc(cfg)
	if err != nil {
		return nil, err
	}
	mlLog := newMemberlistLogger(m.log)
	nt, bindIP, advIP, port, err := bindGossip(cfg.GossipAddr, cfg.AdvertiseHost, mlLog)
	if err != nil {
		return nil, err
	}
	cfg.GRPCAddr = reachable(cfg.GRPCAddr, advIP)
	m.cfg.GRPCAddr = cfg.GRPCAddr
	m.self = Member{
		ID:     cfg.NodeID,
		Addr:   cfg.GRPCAddr,
		Gossip: net.JoinHostPort(advIP, strconv.Itoa(port)),
		Zone:   cfg.Zone,
		Empty:  cfg.Empty,
	}
	doc, m.rejoining = startEntry(cfg, doc, m.self, m.foundsAtStart())
	m.doc = doc
	m.installRings(doc)
	m.meta = nodeMeta{State: StateValid, Hash: m.hash, Cluster: cfg.Cluster, Addr: cfg.GRPCAddr}.encode()

	mlc := memberlistConfig(cfg.Gossip)
	mlc.Name = cfg.NodeID
	mlc.Transport = nt
	mlc.BindAddr, mlc.BindPort = bindIP, port
	mlc.AdvertiseAddr, mlc.AdvertisePort = advIP, port
	mlc.Logger = mlLog
	mlc.Keyring = cfg.Keyring
	d := delegate{m}
	mlc.Delegate, mlc.Events, mlc.Merge, mlc.Alive = d, d, d, d
	m.bcast = &memberlist.TransmitLimitedQueue{
		NumNodes:       func() int { return int(m.numAlive.Load()) },
		RetransmitMult: mlc.RetransmitMult,
	}

	m.ctx, m.cancel = context.WithCancel(context.Background()) // cancelled by stopLoops
	m.wg.Add(2)
	go m.inboxLoop()
	go m.notifyLoop()
	list, err := memberlist.Create(mlc)
	if err != nil {
		_ = nt.Shutdown()
		m.stopLoops()
		return nil, fmt.Errorf("ring: start memberlist: %w", err)
	}
	m.list = list

	targets, serr := m.startTargets()
	joined, err := m.joinAddrs(targets)
	if err == nil {
		// Persist only now: a node refused for a cluster mismatch must not
		// leave its wrong constants behind in a fresh data dir.
		m.mu.Lock()
		err = saveDoc(cfg.Store, m.doc)
		m.mu.Unlock()
	}
	if err != nil {
		_ = list.Shutdown()
		m.stopLoops()
		return nil, err
	}
	if m.hasSeeds() && joined == 0 {
		m.log.Warn("no seed reachable; starting alone and retrying in the background", "seeds", cfg.Seeds, "found", targets, "err", serr)
	}
	m.startSeedLoops(joined > 0)
	m.log.Info("membership started", "gossip", m.self.Gossip, "grpc", cfg.GRPCAddr, "state", doc.StateOf(cfg.NodeID),
		"epoch", doc.Epoch(), "ring", doc.Ring.Members)
	return m, nil
}

// startEntry decides this node's own entry at start. A member keeps its
// state (valid, joining, leaving, parked: a restart cancels nothing). A
// node that is not a member — new, or removed earlier — founds the cluster
// when it may (founds: see foundsAtStart) and knows no ring (epoch 1,
// itself alone); joins (state joining, a new generation: it discards what
// its data dir holds and takes its partitions before it counts) when
// auto-join is on; and
// otherwise waits to be admitted by `ring commit`. Its self part (addresses,
// zone, emptiness) is rewritten when it differs, and its readiness is
// cleared.
//
// rejoining reports a node that joins afresh: it may have been removed
// at a version it does not remember (a wiped disk), and then joins again
// over that removal when it learns of it (see mergeDoc).
func startEntry(cfg MembershipConfig, doc Doc, self Member, founds bool) (_ Doc, rejoining bool) {
	cur, member := doc.Members[cfg.NodeID]
	member = member && cur.State != StateRemoved
	next := cur
	next.ID = cfg.NodeID
	switch {
	case member:
	case founds && doc.Ring.Epoch == 0:
		next.State, next.Version = StateValid, cur.Version+1
		doc = doc.WithRing(RingRecord{Epoch: 1, Members: []string{cfg.NodeID}, Zones: Zones{cfg.NodeID: cfg.Zone}})
	case !cfg.NoAutoJoin:
		next.State, next.Version = StateJoining, cur.Version+1
		next.Gen = next.Version
		rejoining = true
	default:
		return doc, false // not a member: wait for admission
	}
	if !sameSelf(next, self) {
		next = withSelf(next, self)
	}
	if next == cur {
		return doc, rejoining
	}
	return doc.With(next), rejoining
}

func loadDoc(cfg MembershipConfig) (Doc, error) {
	b, err := cfg.Store.LoadDoc()
	if err != nil {
		return Doc{}, fmt.Errorf("ring: load member document: %w", err)
	}
	if b == nil {
		return NewDoc(cfg.Cluster), nil
	}
	doc, err := UnmarshalDoc(b)
	if err != nil {
		return Doc{}, fmt.Errorf("ring: persisted member document: %w", err)
	}
	if doc.Cluster != cfg.Cluster {
		return Doc{}, fmt.Errorf("ring: data dir belongs to a cluster with %v (this node was started with %v)", doc.Cluster, cfg.Cluster)
	}
	if z := doc.Ring.Zones[cfg.NodeID]; doc.Ring.Contains(cfg.NodeID) && z != cfg.Zone {
		return Doc{}, &ZoneChangedError{Node: cfg.NodeID, Ring: z, Flag: cfg.Zone}
	}
	return doc, nil
}

// ZoneChangedError refuses a start with a zone other than the one the
// committed ring places the node by: its data was placed by that zone, so
// the node must leave the ring and join again to move.
type ZoneChangedError struct {
	Node       string
	Ring, Flag string // the ring's zone for it, and the one it was started with
}

func (e *ZoneChangedError) Error() string {
	return fmt.Sprintf("ring: node %s is placed in zone %q by the ring but was started with zone %q; "+
		"a member cannot change zones: start it with its zone, or `ring leave` it and join again", e.Node, e.Ring, e.Flag)
}

func saveDoc(s DocStore, d Doc) error {
	b, err := d.Marshal()
	if err != nil {
		return err
	}
	if err := s.SaveDoc(b); err != nil {
		return fmt.Errorf("ring: save member document: %w", err)
	}
	return nil
}

// sameSelf reports whether a and b have the same self part (versions
// aside).
func sameSelf(a, b Member) bool {
	return a.Addr == b.Addr && a.Gossip == b.Gossip && a.Zone == b.Zone &&
		a.Ready == b.Ready && a.ReadyEpoch == b.ReadyEpoch && a.Empty == b.Empty && a.Held == b.Held
}

// withSelf returns cur with the self part of want, one self version on.
func withSelf(cur, want Member) Member {
	cur.Addr, cur.Gossip, cur.Zone = want.Addr, want.Gossip, want.Zone
	cur.Ready, cur.ReadyEpoch, cur.Empty, cur.Held = want.Ready, want.ReadyEpoch, want.Empty, want.Held
	cur.Self++
	return cur
}

// Ring returns the committed ring (an atomic load; cheap per request).
func (m *Membership) Ring() *Ring { return m.view.Load().Ring }

// View returns the committed ring, its epoch and the target ring, as one
// consistent picture (an atomic load).
func (m *Membership) View() *View { return m.view.Load() }

// Epoch is the committed ring's epoch.
func (m *Membership) Epoch() uint64 { return m.view.Load().Epoch }

// Snapshot returns a copy of the member document and the view built from
// it, taken together.
func (m *Membership) Snapshot() (Doc, *View) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc.Clone(), m.view.Load()
}

// StateOf is member id's state as operators see it (Doc.StateOf), without
// copying the document.
func (m *Membership) StateOf(id string) State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc.StateOf(id)
}

// Doc returns a copy of the current member document.
func (m *Membership) Doc() Doc {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.doc.Clone()
}

// NodeID is this node's id.
func (m *Membership) NodeID() string { return m.cfg.NodeID }

// Alive reports whether memberlist currently considers id alive. This node
// is always alive. Failure detection lags by seconds: quorum decisions must
// rest on RPC results, not on this.
func (m *Membership) Alive(id string) bool {
	if id == m.cfg.NodeID {
		return true
	}
	m.aliveMu.RLock()
	defer m.aliveMu.RUnlock()
	return m.alive[id]
}

// Addr returns the gRPC address of a member, from the document.
func (m *Membership) Addr(id string) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mem, ok := m.doc.Members[id]
	return mem.Addr, ok && mem.Addr != ""
}

// GossipAddr returns the advertised memberlist host:port (the real port when
// GossipAddr asked for port 0).
func (m *Membership) GossipAddr() string { return m.self.Gossip }

// OnChange registers fn, called after the document, the ring or the
// liveness of a member changes. Calls are coalesced and made one at a time
// from a dedicated goroutine, never under a lock and never inside a
// memberlist callback; fn should return promptly.
func (m *Membership) OnChange(fn func()) {
	m.cbMu.Lock()
	m.callbacks = append(m.callbacks, fn)
	m.cbMu.Unlock()
}

// SetState records a new state for member id (bumping its version),
// persists and gossips it: the primitive behind leave and remove. A member
// that becomes a joiner from outside the ring gets a new generation.
// Setting a state a member already has is a no-op.
func (m *Membership) SetState(id string, s State) error {
	if !s.Valid() {
		return fmt.Errorf("ring: invalid state %d", s)
	}
	return m.updateState(id, func(cur Member, _ bool) (State, bool) { return s, true })
}

// Park sets aside member id, a joiner not in the committed ring (joining,
// or valid but missing from the ring): the change no longer waits for it.
// It reports whether it did; the error is for a member it does not know.
func (m *Membership) Park(id string) (bool, error) {
	return changed(m.updateState(id, func(cur Member, inRing bool) (State, bool) {
		return StateParked, (cur.State == StateJoining || cur.State == StateValid) && !inRing
	}))
}

// Unpark takes a parked member up again as a fresh joiner. It reports
// whether it did; the error is for a member it does not know.
func (m *Membership) Unpark(id string) (bool, error) {
	return changed(m.updateState(id, func(cur Member, inRing bool) (State, bool) {
		return StateJoining, cur.State == StateParked && !inRing
	}))
}

// changed turns updateState's answer into whether the state changed: a
// state that needs no change is not an error.
func changed(err error) (bool, error) {
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	return err == nil, err
}

var errNoChange = errors.New("ring: no state change")

// updateState applies decide to member id's entry under the lock; decide
// returns the new state and whether to change it.
func (m *Membership) updateState(id string, decide func(cur Member, inRing bool) (State, bool)) error {
	m.mu.Lock()
	cur, ok := m.doc.Members[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("ring: unknown member %q", id)
	}
	inRing := m.doc.Ring.Contains(id)
	s, do := decide(cur, inRing)
	if !do || cur.State == s {
		m.mu.Unlock()
		return errNoChange
	}
	wasOut := !inRing && cur.State != StateJoining && cur.State != StateValid
	cur.State, cur.Version = s, cur.Version+1
	if s == StateJoining && wasOut {
		cur.Gen = cur.Version
	}
	m.commitLocked(m.doc.With(cur))
	m.mu.Unlock()
	m.signal()
	return nil
}

// Target returns the ring being moved to. It is the current ring when no
// join or leave is in progress.
func (m *Membership) Target() *Ring { return m.view.Load().Target }

// SetReady records that this node is ready for the change to the target
// ring with signature sig at ring epoch epoch: it holds every partition it
// will replicate there and has transferred out every one it will lose.
func (m *Membership) SetReady(epoch uint64, sig string) {
	m.updateSelf(func(cur *Member) { cur.ReadyEpoch, cur.Ready = epoch, sig })
}

// SetEmpty records whether this node's store holds no data.
func (m *Membership) SetEmpty(empty bool) {
	m.updateSelf(func(cur *Member) { cur.Empty = empty })
}

// SetHeld records how many partitions this node holds completely.
func (m *Membership) SetHeld(n int) {
	m.updateSelf(func(cur *Member) { cur.Held = uint32(n) })
}

// updateSelf changes this node's own entry's self part (m.self holds what
// it should be, whatever other nodes remember of it).
func (m *Membership) updateSelf(fn func(*Member)) {
	m.mu.Lock()
	fn(&m.self)
	cur, ok := m.doc.Members[m.cfg.NodeID]
	if !ok || sameSelf(cur, m.self) {
		m.mu.Unlock()
		return
	}
	m.commitLocked(m.doc.With(withSelf(cur, m.self)))
	m.mu.Unlock()
	m.signal()
}

// NextRing is Doc.NextRing for this node's document, not waiting for the
// members the change leaves where they are (Unmoved of the view built from
// the same document).
func (m *Membership) NextRing() (RingRecord, bool) {
	doc, v := m.Snapshot()
	c := doc.Change()
	var unmoved []string
	if v.Ring.Signature() == Signature(c.From) && v.Target.Signature() == c.Signature() {
		unmoved = Unmoved(v.Ring, v.Target)
	}
	return doc.NextRing(unmoved)
}

// Commit installs r as the committed ring if it is the successor of the
// committed ring this node holds (epoch + 1); it reports whether it did.
// Member entries are brought in line (joining → valid, out → removed).
func (m *Membership) Commit(r RingRecord) bool {
	m.mu.Lock()
	if r.Epoch != m.doc.Ring.Epoch+1 {
		m.mu.Unlock()
		return false
	}
	m.commitLocked(m.doc.Committed(r))
	m.mu.Unlock()
	m.signal()
	return true
}

// SyncWith asks for a push-pull of the member document with node id, in
// the background (at most once per SyncInterval per peer): a peer answered
// with a newer ring epoch than this node's, so this node's picture is stale.
func (m *Membership) SyncWith(id string) {
	addr := ""
	m.mu.Lock()
	if mem, ok := m.doc.Members[id]; ok {
		addr = mem.Gossip
	}
	m.mu.Unlock()
	if addr == "" || id == m.cfg.NodeID {
		return
	}
	m.syncMu.Lock()
	now := time.Now()
	if now.Sub(m.syncedAt[id]) < m.cfg.SyncInterval {
		m.syncMu.Unlock()
		return
	}
	m.syncedAt[id] = now
	m.syncMu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case <-m.stop:
			return
		default:
		}
		if _, err := m.list.Join([]string{addr}); err != nil {
			m.log.Debug("push-pull with a peer ahead of us failed", "peer", id, "err", err)
		}
	}()
}

// Candidate is a node gossip sees that is not a member (started with
// auto-join off, or removed), waiting to be admitted.
type Candidate struct {
	ID, Addr, Gossip string
}

// Candidates lists the nodes of this cluster that gossip sees alive but
// the document does not count as members.
func (m *Membership) Candidates() []Candidate {
	doc := m.Doc()
	var out []Candidate
	m.aliveMu.RLock()
	for id, c := range m.seen {
		if mem, ok := doc.Members[id]; ok && mem.State != StateRemoved {
			continue
		}
		out = append(out, c)
	}
	m.aliveMu.RUnlock()
	slices.SortFunc(out, func(a, b Candidate) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Admit makes a candidate a joining member.
func (m *Membership) Admit(c Candidate) error {
	m.mu.Lock()
	cur, ok := m.doc.Members[c.ID]
	if ok && cur.State != StateRemoved {
		m.mu.Unlock()
		return nil
	}
	mem := Member{ID: c.ID, Addr: c.Addr, Gossip: c.Gossip, State: StateJoining, Version: cur.Version + 1, Self: cur.Self}
	mem.Gen = mem.Version
	if err := mem.Validate(); err != nil {
		m.mu.Unlock()
		return err
	}
	m.commitLocked(m.doc.With(mem))
	m.mu.Unlock()
	m.signal()
	return nil
}

// Shutdown leaves the cluster (waiting up to a second for the leave
// broadcast to go out; an unconfirmed leave is only logged), stops
// memberlist and every goroutine of the Membership. Idempotent. memberlist's
// own probe goroutine may still finish an in-flight probe (≤ one probe
// timeout) after Shutdown returns.
func (m *Membership) Shutdown() error {
	m.shutdownOnce.Do(func() {
		// The leave is best effort: if it cannot be confirmed in time (e.g.
		// the peers are stopping too), they detect the failure instead.
		if err := m.list.Leave(leaveTimeout); err != nil {
			m.log.Warn("leave not confirmed", "err", err)
		}
		if err := m.list.Shutdown(); err != nil {
			m.shutdownErr = fmt.Errorf("ring: memberlist shutdown: %w", err)
		}
		m.stopLoops()
		m.log.Info("membership stopped")
	})
	return m.shutdownErr
}
