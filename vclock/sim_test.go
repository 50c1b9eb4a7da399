package vclock

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// A randomized simulation of the store (docs/causality.md §5.8): several
// replicas, each coordinating writes with its own actor, clients writing with
// contexts from earlier GETs (or blind), GETs over random subsets with read
// repair, and pairwise anti-entropy. After every step each replica is checked
// against
//
//   - a naive model that keeps an explicit set of (dot, value) plus a VV
//     and implements put/sync by set operations, and
//   - the exactness oracle of §5.8 (1): a replica holds exactly the known
//     writes that no known write's context covers.
//
// Every state seen is also collected into a pool for the algebraic
// property tests.

type write struct {
	dot Dot
	ctx VV
	val Sibling
}

// model is the naive reference: explicit dotted values plus a VV.
type model struct {
	vv   map[Actor]uint64
	vals map[Dot]Sibling
}

func newModel() model { return model{vv: map[Actor]uint64{}, vals: map[Dot]Sibling{}} }

func (m model) clone() model { return model{vv: maps.Clone(m.vv), vals: maps.Clone(m.vals)} }

func (m model) put(ctx VV, r Actor, v Sibling) (model, Dot) {
	out := newModel()
	maps.Copy(out.vv, m.vv)
	for _, d := range ctx {
		out.vv[d.Actor] = max(out.vv[d.Actor], d.N)
	}
	for d, s := range m.vals {
		if ctx.Get(d.Actor) < d.N { // not covered by the context
			out.vals[d] = s
		}
	}
	out.vv[r]++
	dot := Dot{Actor: r, N: out.vv[r]}
	out.vals[dot] = v
	return out, dot
}

func modelSync(a, b model) model {
	out := newModel()
	maps.Copy(out.vv, a.vv)
	for k, n := range b.vv {
		out.vv[k] = max(out.vv[k], n)
	}
	keep := func(x, y model) {
		for d, s := range x.vals {
			if _, ok := y.vals[d]; ok || y.vv[d.Actor] < d.N {
				out.vals[d] = s
			}
		}
	}
	keep(a, b)
	keep(b, a)
	return out
}

// dotted returns the clock's values keyed by their dots.
func dotted(c Clock) map[Dot]Sibling {
	m := map[Dot]Sibling{}
	for _, e := range c.Entries {
		for p, s := range e.Values {
			m[Dot{Actor: e.Actor, N: e.N - uint64(p)}] = s
		}
	}
	return m
}

func sameSibling(a, b Sibling) bool {
	return a.Tombstone == b.Tombstone && bytes.Equal(a.Value, b.Value)
}

func sameDotted(got, want map[Dot]Sibling) error {
	for d, s := range want {
		g, ok := got[d]
		if !ok {
			return fmt.Errorf("missing %v=%s", d, fmtSibling(s))
		}
		if !sameSibling(g, s) {
			return fmt.Errorf("dot %v holds %s, want %s", d, fmtSibling(g), fmtSibling(s))
		}
	}
	for d, s := range got {
		if _, ok := want[d]; !ok {
			return fmt.Errorf("extra %v=%s", d, fmtSibling(s))
		}
	}
	return nil
}

func vvOf(m map[Actor]uint64) VV {
	var v VV
	for _, a := range slices.Sorted(maps.Keys(m)) {
		if m[a] > 0 {
			v = append(v, Dot{Actor: a, N: m[a]})
		}
	}
	return v
}

type sim struct {
	t      testing.TB
	rng    *rand.Rand
	actors []Actor
	reps   []Clock
	models []model
	ctxs   []VV
	writes []write
	pool   []Clock
	nval   int
}

func newSim(t testing.TB, seed uint64, nrep int) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range nrep {
		// Actors of different lengths and shared prefixes exercise the
		// bytewise order.
		s.actors = append(s.actors, [...]Actor{"a", "a#2", "b", "ab", "a.e7"}[i])
		s.reps = append(s.reps, Clock{})
		s.models = append(s.models, newModel())
	}
	return s
}

func (s *sim) value() Sibling {
	s.nval++
	v := Sibling{Value: fmt.Appendf(nil, "w%d", s.nval)}
	switch s.rng.IntN(10) {
	case 0:
		v.Tombstone = true
	case 1:
		v = Sibling{Tombstone: true} // bare tombstone, no payload
	}
	return v
}

func (s *sim) put() {
	r := s.rng.IntN(len(s.reps))
	var ctx VV
	switch k := s.rng.IntN(4); {
	case k == 0 || len(s.ctxs) == 0: // blind
	case k == 1: // read-your-replica
		ctx = s.reps[r].Context()
	default: // a context from any earlier GET
		ctx = s.ctxs[s.rng.IntN(len(s.ctxs))]
	}
	v := s.value()
	local := s.reps[r]
	got := Put(local, ctx, s.actors[r], v)
	var dot Dot
	s.models[r], dot = s.models[r].put(ctx, s.actors[r], v)
	s.writes = append(s.writes, write{dot: dot, ctx: ctx, val: v})

	// §5.8 (3) and §3.5.1 guarantees.
	a := s.actors[r]
	if got.Counter(a) != max(local.Counter(a), ctx.Get(a))+1 {
		s.t.Fatalf("put: counter of %s is %d", a, got.Counter(a))
	}
	if !Less(local, got) || !Descends(got.Context(), ctx) || got.Context().Equal(ctx) {
		s.t.Fatalf("put: %s does not strictly dominate local %s and %s", fmtClock(got), fmtClock(local), fmtVV(ctx))
	}
	if got.Size() > local.Size()+1 {
		s.t.Fatalf("put: size grew by more than one")
	}
	if Descends(ctx, local.Context()) {
		if vs := got.Values(); len(vs) != 1 || !sameSibling(vs[0], v) {
			s.t.Fatalf("put with a covering context left %s", fmtSiblings(vs))
		}
	}
	s.reps[r] = got
}

func (s *sim) get() {
	m, mm := Clock{}, newModel()
	var members []int
	for len(members) == 0 {
		for i := range s.reps {
			if s.rng.IntN(2) == 0 {
				members = append(members, i)
			}
		}
	}
	for _, i := range members {
		m = Sync(m, s.reps[i])
		mm = modelSync(mm, s.models[i])
	}
	if err := sameDotted(dotted(m), mm.vals); err != nil {
		s.t.Fatalf("get: merged clock vs model: %v", err)
	}
	s.ctxs = append(s.ctxs, m.Context())
	s.pool = append(s.pool, m)
	if s.rng.IntN(2) == 0 { // read repair
		for _, i := range members {
			s.reps[i] = Sync(s.reps[i], m)
			s.models[i] = modelSync(s.models[i], mm)
		}
	}
}

func (s *sim) antiEntropy() {
	i, j := s.rng.IntN(len(s.reps)), s.rng.IntN(len(s.reps))
	x := Sync(s.reps[i], s.reps[j])
	mx := modelSync(s.models[i], s.models[j])
	if s.rng.IntN(2) == 0 { // both directions
		s.reps[j] = Sync(s.reps[j], s.reps[i])
		s.models[j] = modelSync(s.models[j], s.models[i])
		if !s.reps[j].Equal(x) {
			s.t.Fatalf("sync not commutative: %s vs %s", fmtClock(s.reps[j]), fmtClock(x))
		}
	}
	s.reps[i], s.models[i] = x, mx
}

func (s *sim) step() {
	switch k := s.rng.IntN(10); {
	case k < 4:
		s.put()
	case k < 7:
		s.get()
	default:
		s.antiEntropy()
	}
	for i, c := range s.reps {
		s.check(i, c)
		s.pool = append(s.pool, c)
	}
}

func (s *sim) check(i int, c Clock) {
	s.t.Helper()
	if err := c.Validate(); err != nil {
		s.t.Fatalf("replica %d: %v", i, err)
	}
	got := dotted(c)
	if len(got) != c.Size() {
		s.t.Fatalf("replica %d: duplicate dots in %s", i, fmtClock(c))
	}
	m := s.models[i]
	if err := sameDotted(got, m.vals); err != nil {
		s.t.Fatalf("replica %d: %s vs model: %v", i, fmtClock(c), err)
	}
	if !c.Context().Equal(vvOf(m.vv)) || len(c.Context()) != len(vvOf(m.vv)) {
		s.t.Fatalf("replica %d: context %s, model %s", i, fmtVV(c.Context()), fmtVV(vvOf(m.vv)))
	}
	// Exactness oracle: the known writes that no known write supersedes.
	vv := c.Context()
	var known []write
	for _, w := range s.writes {
		if vv.Get(w.dot.Actor) >= w.dot.N {
			known = append(known, w)
		}
	}
	want := map[Dot]Sibling{}
	for _, w := range known {
		superseded := false
		for _, w2 := range known {
			if w2.ctx.Get(w.dot.Actor) >= w.dot.N {
				superseded = true
				break
			}
		}
		if !superseded {
			want[w.dot] = w.val
		}
	}
	if err := sameDotted(got, want); err != nil {
		s.t.Fatalf("replica %d: %s vs oracle: %v", i, fmtClock(c), err)
	}
}

func TestSimulationAgainstModelAndOracle(t *testing.T) {
	seeds, steps := 40, 150
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		s := newSim(t, seed, 3+int(seed%3))
		for range steps {
			s.step()
		}
		// Full anti-entropy: every replica converges to the writes that
		// no other write's context covers.
		all := Clock{}
		for _, c := range s.reps {
			all = Sync(all, c)
		}
		for i := range s.reps {
			s.reps[i] = Sync(s.reps[i], all)
			s.models[i] = s.models[i].clone()
			for j := range s.reps {
				s.models[i] = modelSync(s.models[i], s.models[j])
			}
			s.check(i, s.reps[i])
			if !s.reps[i].Equal(all) {
				t.Fatalf("seed %d: replica %d did not converge", seed, i)
			}
		}
	}
}

// simPool returns reachable clocks (dot uniqueness holds among them).
func simPool(t testing.TB, seed uint64) []Clock {
	s := newSim(t, seed, 4)
	for range 120 {
		s.step()
	}
	return s.pool
}
