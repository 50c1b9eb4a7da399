package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/vclock"
)

// This file is an in-memory fake cluster for the coordinator tests: fake
// Placement, Locals (a map of clocks per node, vclock.Put with a fixed actor
// per node, vclock.Sync for Apply), a Transport that routes to the other
// fakes and injects failures, and a Liveness view. Every state change
// broadcasts on fakeNet.changed so tests wait on conditions, never on sleeps.

// waitTimeout bounds every condition wait; it only fires when a test is
// broken (a condition that never becomes true), never in a passing run.
const waitTimeout = 20 * time.Second

// ---- Placement ----

// staticPlacement puts every key in partition part with one preference list
// and one list of fallbacks.
type staticPlacement struct {
	part      int
	prefs     []string
	fallbacks []string
}

func (p staticPlacement) Fallbacks(q int) []string {
	if q != p.part {
		panic(fmt.Sprintf("Fallbacks(%d) for a partition Partition never returned (%d)", q, p.part))
	}
	return slices.Clone(p.fallbacks)
}

func (p staticPlacement) Partition([]byte) int { return p.part }

func (p staticPlacement) Preference(q int) []string {
	if q != p.part {
		panic(fmt.Sprintf("Preference(%d) for a partition Partition never returned (%d)", q, p.part))
	}
	return slices.Clone(p.prefs)
}

// ---- Local ----

// fakeLocal is one node's replica: key -> clock, under a mutex.
type fakeLocal struct {
	net   *fakeNet
	actor vclock.Actor

	mu          sync.Mutex
	data        map[string]vclock.Clock
	applies     map[string]int // Apply calls per key
	coordinates int
	gets        int
	coordErr    error // returned by Coordinate when set
	durableErr  error // returned by the durable wait of Coordinate when set
}

func (l *fakeLocal) CoordinateNoSyncWait(key []byte, ctx vclock.VV, v vclock.Sibling) (vclock.Clock, func() error, error) {
	l.mu.Lock()
	defer l.net.notify()
	defer l.mu.Unlock()
	l.coordinates++
	if l.coordErr != nil {
		return vclock.Clock{}, nil, l.coordErr
	}
	res, err := vclock.TryPut(l.data[string(key)], ctx, l.actor, v)
	if err != nil {
		return vclock.Clock{}, nil, err
	}
	l.data[string(key)] = res
	durableErr := l.durableErr
	return res.Clone(), func() error { return durableErr }, nil
}

func (l *fakeLocal) Apply(key []byte, c vclock.Clock) (vclock.Clock, bool, error) {
	l.mu.Lock()
	defer l.net.notify()
	defer l.mu.Unlock()
	l.applies[string(key)]++
	local := l.data[string(key)]
	merged := vclock.Sync(local, c)
	changed := !merged.Equal(local)
	if changed {
		l.data[string(key)] = merged
	}
	return merged.Clone(), changed, nil
}

func (l *fakeLocal) Get(key []byte) (vclock.Clock, bool, error) {
	l.mu.Lock()
	defer l.net.notify()
	defer l.mu.Unlock()
	l.gets++
	c, ok := l.data[string(key)]
	return c.Clone(), ok, nil
}

// set stores c for key directly (test setup; no Apply counted).
func (l *fakeLocal) set(key string, c vclock.Clock) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.data[key] = c.Clone()
}

func (l *fakeLocal) setDurableErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.durableErr = err
}

func (l *fakeLocal) setCoordErr(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.coordErr = err
}

func (l *fakeLocal) clock(key string) vclock.Clock {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.data[key].Clone()
}

func (l *fakeLocal) applyCount(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.applies[key]
}

func (l *fakeLocal) coordinateCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.coordinates
}

// ---- Transport ----

const (
	opApply      = "apply"
	opRead       = "read"
	opCoordinate = "coordinate"
	opHint       = "hint"
)

// fault is injected on calls of one op to one node.
type fault struct {
	// gate, when non-nil, holds the call until it is closed (or the call's
	// context ends, which then fails the call with the context's error).
	gate chan struct{}
	// block holds the call until its context ends.
	block bool
	// err fails the call (after the gate, if any).
	err error
}

type callKey struct{ op, from, to string }

type fakeNet struct {
	mu       sync.Mutex
	nodes    map[string]*fakeNode
	faults   map[[2]string]fault // {op, to}; op "*" matches every op
	started  map[callKey]int
	finished map[callKey]int
	changed  chan struct{}
}

type fakeNode struct {
	id    string
	local *fakeLocal
	coord *Coordinator
	hints *fakeHints
}

// hint is one write held for a target replica.
type hint struct {
	target string
	key    string
	clock  vclock.Clock
}

// fakeHints is a node's hint store (Config.Hints, and what Transport.Hint
// reaches on a fallback).
type fakeHints struct {
	net *fakeNet
	mu  sync.Mutex
	all []hint
	err error
}

func (h *fakeHints) Add(target string, key []byte, c vclock.Clock) error {
	h.mu.Lock()
	defer h.net.notify()
	defer h.mu.Unlock()
	if h.err != nil {
		return h.err
	}
	h.all = append(h.all, hint{target: target, key: string(key), clock: c.Clone()})
	return nil
}

func (h *fakeHints) list() []hint {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.all)
}

func newFakeNet() *fakeNet {
	return &fakeNet{
		nodes:    map[string]*fakeNode{},
		faults:   map[[2]string]fault{},
		started:  map[callKey]int{},
		finished: map[callKey]int{},
		changed:  make(chan struct{}),
	}
}

func (n *fakeNet) notify() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// waitFor blocks until cond (called with no lock held) holds. It re-checks
// on every fake state change, and also every few milliseconds for conditions
// on state the fakes do not see (such as the coordinator's repair set).
func (n *fakeNet) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(2 * time.Millisecond)
	defer poll.Stop()
	for {
		n.mu.Lock()
		ch := n.changed
		n.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (n *fakeNet) setFault(op, to string, f fault) {
	n.mu.Lock()
	n.faults[[2]string{op, to}] = f
	n.mu.Unlock()
}

func (n *fakeNet) clearFault(op, to string) {
	n.mu.Lock()
	delete(n.faults, [2]string{op, to})
	n.mu.Unlock()
}

func (n *fakeNet) faultFor(op, to string) (fault, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f, ok := n.faults[[2]string{op, to}]; ok {
		return f, true
	}
	f, ok := n.faults[[2]string{"*", to}]
	return f, ok
}

// callsTo counts started calls of op to node (from anyone).
func (n *fakeNet) callsTo(op, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for k, v := range n.started {
		if k.op == op && k.to == to {
			total += v
		}
	}
	return total
}

// calls counts started calls of op from one node to another.
func (n *fakeNet) calls(op, from, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.started[callKey{op, from, to}]
}

// callsFrom counts started calls of op from node (to anyone).
func (n *fakeNet) callsFrom(op, from string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for k, v := range n.started {
		if k.op == op && k.from == from {
			total += v
		}
	}
	return total
}

// finishedTo counts finished calls of op to node (from anyone).
func (n *fakeNet) finishedTo(op, to string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for k, v := range n.finished {
		if k.op == op && k.to == to {
			total += v
		}
	}
	return total
}

// inflight is started minus finished calls over all ops and nodes.
func (n *fakeNet) inflight() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	total := 0
	for _, v := range n.started {
		total += v
	}
	for _, v := range n.finished {
		total -= v
	}
	return total
}

func (n *fakeNet) transport(from string) *fakeTransport { return &fakeTransport{net: n, from: from} }

// fakeTransport is node from's view of the network.
type fakeTransport struct {
	net  *fakeNet
	from string
}

// enter records the call, applies the fault and returns the target node.
// The caller must call leave.
func (tr *fakeTransport) enter(ctx context.Context, op, to string) (*fakeNode, error) {
	n := tr.net
	n.mu.Lock()
	n.started[callKey{op, tr.from, to}]++
	node := n.nodes[to]
	n.mu.Unlock()
	n.notify()
	if ctx == nil {
		return nil, errors.New("fake transport: nil context")
	}
	if f, ok := n.faultFor(op, to); ok {
		if f.gate != nil {
			select {
			case <-f.gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if f.block {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
	}
	if node == nil {
		return nil, fmt.Errorf("%w: no node %q", ErrUnreachable, to)
	}
	return node, nil
}

func (tr *fakeTransport) leave(op, to string) {
	n := tr.net
	n.mu.Lock()
	n.finished[callKey{op, tr.from, to}]++
	n.mu.Unlock()
	n.notify()
}

func (tr *fakeTransport) Apply(ctx context.Context, to string, key []byte, c vclock.Clock) error {
	defer tr.leave(opApply, to)
	node, err := tr.enter(ctx, opApply, to)
	if err != nil {
		return err
	}
	_, _, err = node.local.Apply(key, c)
	return err
}

func (tr *fakeTransport) Read(ctx context.Context, to string, key []byte) (vclock.Clock, bool, error) {
	defer tr.leave(opRead, to)
	node, err := tr.enter(ctx, opRead, to)
	if err != nil {
		return vclock.Clock{}, false, err
	}
	return node.local.Get(key)
}

func (tr *fakeTransport) Coordinate(ctx context.Context, to string, w Write) (WriteResult, error) {
	defer tr.leave(opCoordinate, to)
	node, err := tr.enter(ctx, opCoordinate, to)
	if err != nil {
		return WriteResult{}, err
	}
	if node.coord == nil {
		return WriteResult{}, fmt.Errorf("%w: %q runs no coordinator", ErrUnreachable, to)
	}
	return node.coord.CoordinateForwarded(ctx, w)
}

func (tr *fakeTransport) Hint(ctx context.Context, to, target string, key []byte, c vclock.Clock) error {
	defer tr.leave(opHint, to)
	node, err := tr.enter(ctx, opHint, to)
	if err != nil {
		return err
	}
	return node.hints.Add(target, key, c)
}

// ---- Liveness ----

type fakeLiveness struct {
	mu   sync.Mutex
	down map[string]bool
}

func (l *fakeLiveness) Alive(node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down[node]
}

// ---- Responsiveness ----

type fakeResponsiveness struct {
	mu    sync.Mutex
	quiet map[string]bool
}

func (r *fakeResponsiveness) Quiet(node string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.quiet[node]
}

// ---- Cluster ----

type cluster struct {
	t     *testing.T
	net   *fakeNet
	nodes map[string]*fakeNode
	live  *fakeLiveness
	resp  *fakeResponsiveness
}

// clusterOpts configure newCluster.
type clusterOpts struct {
	// prefs is the preference list of every key (default: the first
	// `replicas` ids).
	prefs []string
	// replicas is N (default len(prefs)).
	replicas int
	// fallbacks is every partition's fallback list.
	fallbacks []string
	// placement overrides the placement of one node (a stale ring).
	placement map[string]Placement
	// hints gives every coordinator a Config.Hints (sloppy quorum on).
	hints bool
	// readFew leaves Config.ReadAll off: reads ask only R replicas.
	readFew bool
	// config edits each node's Config before New.
	config func(id string, c *Config)
}

const testPartition = 7

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newCluster builds one coordinator per id over the fake network. Every
// coordinator is closed when the test ends.
func newCluster(t *testing.T, ids []string, o clusterOpts) *cluster {
	t.Helper()
	if o.prefs == nil {
		o.prefs = ids
	}
	if o.replicas == 0 {
		o.replicas = len(o.prefs)
	}
	c := &cluster{t: t, net: newFakeNet(), nodes: map[string]*fakeNode{}, live: &fakeLiveness{down: map[string]bool{}},
		resp: &fakeResponsiveness{quiet: map[string]bool{}}}
	for _, id := range ids {
		l := &fakeLocal{net: c.net, actor: vclock.Actor(id), data: map[string]vclock.Clock{}, applies: map[string]int{}}
		hs := &fakeHints{net: c.net}
		var pl Placement = staticPlacement{part: testPartition, prefs: o.prefs, fallbacks: o.fallbacks}
		if p, ok := o.placement[id]; ok {
			pl = p
		}
		cfg := Config{
			NodeID:         id,
			Replicas:       o.replicas,
			Placement:      func() Placement { return pl },
			Local:          l,
			Transport:      transportFor(c.net.transport(id)),
			Liveness:       c.live,
			Responsiveness: c.resp,
			ReplicaTimeout: waitTimeout, // stragglers end by gates or Close, not by timers
			Logger:         discardLogger(),
			ReadAll:        !o.readFew, // most read tests watch every replica answer
		}
		if o.hints {
			cfg.Hints = hs
		}
		if o.config != nil {
			o.config(id, &cfg)
		}
		co, err := New(cfg)
		if err != nil {
			t.Fatalf("New(%s): %v", id, err)
		}
		node := &fakeNode{id: id, local: l, coord: co, hints: hs}
		c.nodes[id] = node
		c.net.nodes[id] = node
		t.Cleanup(co.Close)
	}
	return c
}

func (c *cluster) coord(id string) *Coordinator { return c.nodes[id].coord }
func (c *cluster) local(id string) *fakeLocal   { return c.nodes[id].local }

// setDown makes gossip report nodes as down.
func (c *cluster) setDown(nodes ...string) {
	c.live.mu.Lock()
	defer c.live.mu.Unlock()
	for _, n := range nodes {
		c.live.down[n] = true
	}
}

// setQuiet makes the transport report nodes as quiet.
func (c *cluster) setQuiet(nodes ...string) {
	c.resp.mu.Lock()
	defer c.resp.mu.Unlock()
	for _, n := range nodes {
		c.resp.quiet[n] = true
	}
}

// closeAll closes every coordinator (waits for their background work).
func (c *cluster) closeAll() {
	for _, n := range c.nodes {
		n.coord.Close()
	}
}

// ---- helpers ----

func sib(v string) vclock.Sibling { return vclock.Sibling{Value: []byte(v)} }

// clk builds a clock from entries given as actor, counter, values...
func clk(entries ...vclock.Entry) vclock.Clock {
	c := vclock.Clock{Entries: entries}
	if err := c.Validate(); err != nil {
		panic(err)
	}
	return c
}

func entry(actor string, n uint64, values ...string) vclock.Entry {
	e := vclock.Entry{Actor: vclock.Actor(actor), N: n}
	for _, v := range values {
		e.Values = append(e.Values, sib(v))
	}
	return e
}

// live returns a clock's live values as sorted strings.
func live(c vclock.Clock) []string {
	var out []string
	for _, v := range c.Live() {
		out = append(out, string(v))
	}
	slices.Sort(out)
	return out
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// result of an asynchronous call.
type putOutcome struct {
	res WriteResult
	err error
}

func goPut(ctx context.Context, c *Coordinator, w Write) <-chan putOutcome {
	ch := make(chan putOutcome, 1)
	go func() {
		res, err := c.Put(ctx, w)
		ch <- putOutcome{res, err}
	}()
	return ch
}

type getOutcome struct {
	res ReadResult
	err error
}

func goGet(ctx context.Context, c *Coordinator, key []byte, cons Consistency) <-chan getOutcome {
	ch := make(chan getOutcome, 1)
	go func() {
		res, err := c.Get(ctx, key, cons)
		ch <- getOutcome{res, err}
	}()
	return ch
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func unavailable(t *testing.T, err error) *UnavailableError {
	t.Helper()
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *UnavailableError", err, err)
	}
	return ue
}
