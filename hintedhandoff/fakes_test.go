package hintedhandoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/internal/clock"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/vclock"
)

// ---------------------------------------------------------------------------
// fakeKV: a sorted in-memory map with replica.Space.Scan semantics.

type fakeKV struct {
	mu     sync.Mutex
	m      map[string][]byte
	keys   []string // sorted
	setErr error    // if non-nil, Set fails with it
	delErr error    // if non-nil, Delete fails with it
	sets   int
	dels   int
}

var _ KV = (*fakeKV)(nil)

func newFakeKV() *fakeKV { return &fakeKV{m: map[string][]byte{}} }

func (kv *fakeKV) Set(k, v []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.setErr != nil {
		return kv.setErr
	}
	kv.sets++
	ks := string(k)
	if _, ok := kv.m[ks]; !ok {
		i := sort.SearchStrings(kv.keys, ks)
		kv.keys = append(kv.keys, "")
		copy(kv.keys[i+1:], kv.keys[i:])
		kv.keys[i] = ks
	}
	kv.m[ks] = bytes.Clone(v)
	return nil
}

func (kv *fakeKV) Delete(k []byte) error {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	if kv.delErr != nil {
		return kv.delErr
	}
	kv.dels++
	ks := string(k)
	if _, ok := kv.m[ks]; !ok {
		return nil
	}
	delete(kv.m, ks)
	i := sort.SearchStrings(kv.keys, ks)
	kv.keys = append(kv.keys[:i], kv.keys[i+1:]...)
	return nil
}

// Scan calls fn for keys in [from, to) in order; to == nil means the end;
// fn returning replica.ErrStopScan ends the scan without error. Like a Pebble
// iterator it works on a point-in-time view, and (to catch callers that keep
// k or v, which Space.Scan forbids) the slices handed to fn are scribbled
// over once fn returns.
func (kv *fakeKV) Scan(from, to []byte, fn func(k, v []byte) error) error {
	type kvp struct{ k, v []byte }
	kv.mu.Lock()
	var snap []kvp
	i := sort.SearchStrings(kv.keys, string(from))
	for ; i < len(kv.keys); i++ {
		k := kv.keys[i]
		if to != nil && k >= string(to) {
			break
		}
		snap = append(snap, kvp{[]byte(k), bytes.Clone(kv.m[k])})
	}
	kv.mu.Unlock()
	for _, p := range snap {
		err := fn(p.k, p.v)
		for j := range p.k {
			p.k[j] = 0xEE
		}
		for j := range p.v {
			p.v[j] = 0xEE
		}
		if err != nil {
			if errors.Is(err, replica.ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return nil
}

func (kv *fakeKV) Len() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.keys)
}

// storedHint is a decoded KV entry.
type storedHint struct {
	target string
	seq    uint64
	h      hint
	size   int
}

// hints returns the stored hints of target (all targets if target == ""),
// in key order.
func (kv *fakeKV) hints(t testing.TB, target string) []storedHint {
	t.Helper()
	var from, to []byte
	if target != "" {
		from, to = targetRange(target)
	}
	var out []storedHint
	err := kv.Scan(from, to, func(k, v []byte) error {
		name, seq, err := parseHintKey(k)
		if err != nil {
			return err
		}
		h, err := decodeHint(v)
		if err != nil {
			return err
		}
		out = append(out, storedHint{target: name, seq: seq, h: h, size: len(v)})
		return nil
	})
	if err != nil {
		t.Fatalf("scanning KV: %v", err)
	}
	return out
}

// hintKeys returns the user keys of target's stored hints, in replay order.
func (kv *fakeKV) hintKeys(t testing.TB, target string) []string {
	t.Helper()
	var out []string
	for _, sh := range kv.hints(t, target) {
		out = append(out, string(sh.h.key))
	}
	return out
}

// has reports whether a hint of key for target is stored.
func (kv *fakeKV) has(t testing.TB, target, key string) bool {
	for _, k := range kv.hintKeys(t, target) {
		if k == key {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// fakeSender

type delivery struct {
	key   string
	clock vclock.Clock
}

type fakeSender struct {
	mu        sync.Mutex
	delivered map[string][]delivery // acknowledged deliveries, in order, per target
	attempts  map[string]int
	fail      map[string]error // target -> always fail with this
	failAfter map[string]int   // target -> successes left before failing
	block     map[string]bool  // target -> block until ctx is done
	noDeadl   int              // Apply calls whose ctx had no deadline
	// onApply, if set, runs at the start of each Apply (without s.mu held).
	onApply func(ctx context.Context, node string, key []byte)
	// notify, if set, receives the target of each acknowledged delivery
	// (non-blocking).
	notify chan string
}

var _ Sender = (*fakeSender)(nil)

var errSend = errors.New("fake: target unreachable")

func newFakeSender() *fakeSender {
	return &fakeSender{
		delivered: map[string][]delivery{},
		attempts:  map[string]int{},
		fail:      map[string]error{},
		failAfter: map[string]int{},
		block:     map[string]bool{},
	}
}

func (s *fakeSender) Apply(ctx context.Context, node string, key []byte, c vclock.Clock) error {
	s.mu.Lock()
	hook := s.onApply
	s.mu.Unlock()
	if hook != nil {
		hook(ctx, node, key)
	}
	s.mu.Lock()
	s.attempts[node]++
	if _, ok := ctx.Deadline(); !ok {
		s.noDeadl++
	}
	if s.block[node] {
		s.mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}
	if err := s.fail[node]; err != nil {
		s.mu.Unlock()
		return err
	}
	if n, ok := s.failAfter[node]; ok {
		if n <= 0 {
			s.mu.Unlock()
			return errSend
		}
		s.failAfter[node] = n - 1
	}
	s.delivered[node] = append(s.delivered[node], delivery{key: string(key), clock: c.Clone()})
	notify := s.notify
	s.mu.Unlock()
	if notify != nil {
		select {
		case notify <- node:
		default:
		}
	}
	return nil
}

func (s *fakeSender) setFail(node string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, node)
	} else {
		s.fail[node] = err
	}
}

// setFailAfter makes node fail after k more successes (k < 0: never).
func (s *fakeSender) setFailAfter(node string, k int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k < 0 {
		delete(s.failAfter, node)
	} else {
		s.failAfter[node] = k
	}
}

func (s *fakeSender) setBlock(node string, b bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.block[node] = b
}

func (s *fakeSender) keys(node string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, d := range s.delivered[node] {
		out = append(out, d.key)
	}
	return out
}

func (s *fakeSender) deliveries(node string) []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.delivered[node]...)
}

func (s *fakeSender) attemptsFor(node string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[node]
}

func (s *fakeSender) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.delivered {
		n += len(d)
	}
	return n
}

// ---------------------------------------------------------------------------
// fakeLiveness

type fakeLiveness struct {
	mu    sync.Mutex
	alive map[string]bool
}

var _ Liveness = (*fakeLiveness)(nil)

func newFakeLiveness(alive ...string) *fakeLiveness {
	l := &fakeLiveness{alive: map[string]bool{}}
	for _, n := range alive {
		l.alive[n] = true
	}
	return l
}

func (l *fakeLiveness) Alive(node string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.alive[node]
}

func (l *fakeLiveness) set(node string, alive bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.alive[node] = alive
}

// ---------------------------------------------------------------------------
// fakeClock

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

var _ clock.Clock = (*fakeClock)(nil)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// ---------------------------------------------------------------------------
// Test environment.

type env struct {
	kv   *fakeKV
	snd  *fakeSender
	live *fakeLiveness
	clk  *fakeClock
}

func newEnv(alive ...string) *env {
	return &env{kv: newFakeKV(), snd: newFakeSender(), live: newFakeLiveness(alive...), clk: newFakeClock()}
}

const (
	testMinBackoff = 100 * time.Millisecond
	testMaxBackoff = time.Second
	testWindow     = time.Hour
)

// config is a test configuration: a rate high enough not to interfere, a
// discarding logger, small backoffs.
func (e *env) config() Config {
	return Config{
		KV:          e.kv,
		Sender:      e.snd,
		Liveness:    e.live,
		Clock:       e.clk,
		Rate:        1e6,
		Window:      testWindow,
		MinBackoff:  testMinBackoff,
		MaxBackoff:  testMaxBackoff,
		SendTimeout: time.Minute,
		Logger:      slog.New(slog.DiscardHandler),
	}
}

func (e *env) open(t testing.TB, mod func(*Config)) *Store {
	t.Helper()
	cfg := e.config()
	if mod != nil {
		mod(&cfg)
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// testClock is a small valid clock whose sibling value names the hint.
func testClock(v string) vclock.Clock {
	return vclock.Clock{Entries: []vclock.Entry{{
		Actor: "node-x#1", N: 1, Values: []vclock.Sibling{{Value: []byte(v)}},
	}}}
}

func mustAdd(t testing.TB, s *Store, target, key string) {
	t.Helper()
	if err := s.Add(target, []byte(key), testClock("v-"+key)); err != nil {
		t.Fatalf("Add(%q, %q): %v", target, key, err)
	}
}

// addN adds hints <prefix>0 .. <prefix>n-1 for target and returns their keys.
func addN(t testing.TB, s *Store, target, prefix string, n int) []string {
	t.Helper()
	var keys []string
	for i := range n {
		k := fmt.Sprintf("%s%03d", prefix, i)
		mustAdd(t, s, target, k)
		keys = append(keys, k)
	}
	return keys
}

func statsFor(s *Store, target string) (Stats, bool) {
	for _, st := range s.Stats() {
		if st.Target == target {
			return st, true
		}
	}
	return Stats{}, false
}

// waitFor waits for a value on ch (a failsafe timeout only: tests do not
// rely on timing).
func waitFor[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
