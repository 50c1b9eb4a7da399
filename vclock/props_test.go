package vclock

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// pointwiseMax is the reference join of two contexts.
func pointwiseMax(a, b VV) VV {
	m := map[Actor]uint64{}
	for _, d := range a {
		m[d.Actor] = max(m[d.Actor], d.N)
	}
	for _, d := range b {
		m[d.Actor] = max(m[d.Actor], d.N)
	}
	return vvOf(m)
}

func vvIdentical(a, b VV) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSyncAlgebra checks the properties of docs/causality.md §3.4 over
// reachable clocks.
func TestSyncAlgebra(t *testing.T) {
	for seed := range uint64(6) {
		pool := simPool(t, 100+seed)
		rng := rand.New(rand.NewPCG(seed, 7))
		pick := func() Clock { return pool[rng.IntN(len(pool))] }
		for range 1500 {
			x, y, z := pick(), pick(), pick()
			xy, yx := Sync(x, y), Sync(y, x)
			if !xy.Equal(yx) {
				t.Fatalf("not commutative:\n x=%s\n y=%s\n xy=%s\n yx=%s", fmtClock(x), fmtClock(y), fmtClock(xy), fmtClock(yx))
			}
			if !bytes.Equal(xy.Marshal(), yx.Marshal()) {
				t.Fatalf("equal clocks encode differently")
			}
			l, r := Sync(xy, z), Sync(x, Sync(y, z))
			if !l.Equal(r) {
				t.Fatalf("not associative:\n x=%s\n y=%s\n z=%s\n (xy)z=%s\n x(yz)=%s", fmtClock(x), fmtClock(y), fmtClock(z), fmtClock(l), fmtClock(r))
			}
			if !Sync(x, x).Equal(x) {
				t.Fatalf("not idempotent: %s", fmtClock(x))
			}
			if !Sync(x, Clock{}).Equal(x) || !Sync(Clock{}, x).Equal(x) {
				t.Fatalf("empty clock is not the identity for %s", fmtClock(x))
			}
			if Less(x, y) && !xy.Equal(y) {
				t.Fatalf("not absorbing: less(%s, %s) but sync = %s", fmtClock(x), fmtClock(y), fmtClock(xy))
			}
			if !vvIdentical(xy.Context(), pointwiseMax(x.Context(), y.Context())) {
				t.Fatalf("VV(sync) %s is not the pointwise max of %s and %s", fmtVV(xy.Context()), fmtVV(x.Context()), fmtVV(y.Context()))
			}
			if err := xy.Validate(); err != nil {
				t.Fatal(err)
			}
			// Less is strict causality on the VVs.
			wantLess := Descends(y.Context(), x.Context()) && !x.Context().Equal(y.Context())
			if Less(x, y) != wantLess {
				t.Fatalf("Less(%s, %s) = %v", fmtClock(x), fmtClock(y), Less(x, y))
			}
			if Less(x, y) && Less(y, x) {
				t.Fatalf("Less is not antisymmetric")
			}
			// Sync dominates both inputs.
			if !Descends(xy.Context(), x.Context()) || !Descends(xy.Context(), y.Context()) {
				t.Fatalf("sync does not dominate its inputs")
			}
		}
	}
}

// TestPutProperties checks docs/causality.md §5.8 (3) on arbitrary reachable
// clocks and contexts.
func TestPutProperties(t *testing.T) {
	pool := simPool(t, 42)
	rng := rand.New(rand.NewPCG(1, 2))
	actors := []Actor{"a", "b", "c", "zz", "a\x00"}
	for range 3000 {
		local := pool[rng.IntN(len(pool))]
		var ctx VV
		if rng.IntN(4) > 0 {
			ctx = pool[rng.IntN(len(pool))].Context()
		}
		r := actors[rng.IntN(len(actors))]
		v := Sibling{Value: []byte("new")}
		before := local.Clone()
		got := Put(local, ctx, r, v)
		if !local.Equal(before) {
			t.Fatal("Put modified its input")
		}
		if err := got.Validate(); err != nil {
			t.Fatal(err)
		}
		if got.Counter(r) != max(local.Counter(r), ctx.Get(r))+1 {
			t.Fatalf("wrong counter")
		}
		if !Less(local, got) {
			t.Fatalf("result does not strictly dominate local")
		}
		if !Descends(got.Context(), ctx) || got.Context().Equal(ctx) {
			t.Fatalf("result does not strictly dominate ctx")
		}
		if !vvIdentical(got.Context(), pointwiseMax(pointwiseMax(local.Context(), ctx), VV{{r, got.Counter(r)}})) {
			t.Fatalf("result VV %s", fmtVV(got.Context()))
		}
		if got.Size() > local.Size()+1 {
			t.Fatalf("size grew by more than one")
		}
		// The new value is at the head of r's entry.
		for _, en := range got.Entries {
			if en.Actor == r && (len(en.Values) == 0 || string(en.Values[0].Value) != "new") {
				t.Fatalf("new value not at the head of %s", r)
			}
		}
		// Exactly the local values that ctx does not cover are kept.
		want := map[Dot]Sibling{{r, got.Counter(r)}: v}
		for d, s := range dotted(local) {
			if ctx.Get(d.Actor) < d.N {
				want[d] = s
			}
		}
		if err := sameDotted(dotted(got), want); err != nil {
			t.Fatalf("Put(%s, %s, %s): %v", fmtClock(local), fmtVV(ctx), r, err)
		}
		if Descends(ctx, local.Context()) && got.Size() != 1 {
			t.Fatalf("covering context left %d siblings", got.Size())
		}
	}
}

// TestEncodingRoundTripPool checks Marshal/Unmarshal and token round trips
// and canonicality on reachable clocks.
func TestEncodingRoundTripPool(t *testing.T) {
	for _, c := range simPool(t, 7) {
		b := c.Marshal()
		d, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%s)): %v", fmtClock(c), err)
		}
		if !d.Equal(c) || !bytes.Equal(d.Marshal(), b) || !bytes.Equal(c.Clone().Marshal(), b) {
			t.Fatalf("round trip of %s", fmtClock(c))
		}
		v := c.Context()
		w, err := UnmarshalVV(v.Marshal())
		if err != nil || !vvIdentical(v, w) {
			t.Fatalf("VV round trip of %s: %v", fmtVV(v), err)
		}
		u, err := ParseToken(v.Token())
		if err != nil || !vvIdentical(v, u) {
			t.Fatalf("token round trip of %s: %v", fmtVV(v), err)
		}
	}
}

// TestE2LongRun: in the README's "Scenario 1" the number of siblings never
// exceeds 3 however long it runs (docs/causality.md §5.5 E2).
func TestE2LongRun(t *testing.T) {
	c := Put(Clock{}, nil, "a", Sibling{Value: []byte("v1")})
	ctx := c.Context()
	for i := range 200 {
		c = Put(c, nil, "a", Sibling{Value: []byte("other")})
		c = Put(c, ctx, "a", Sibling{Value: []byte("mine")})
		ctx = c.Context()
		if c.Size() > 3 {
			t.Fatalf("round %d: %d siblings", i, c.Size())
		}
	}
	// E3: two clients alternating with their own last contexts.
	c = Clock{}
	var ctx1, ctx2 VV
	for i := range 200 {
		c = Put(c, ctx1, "a", Sibling{Value: []byte("c1")})
		ctx1 = c.Context()
		c = Put(c, ctx2, "a", Sibling{Value: []byte("c2")})
		ctx2 = c.Context()
		if i > 0 && c.Size() != 2 {
			t.Fatalf("round %d: %d siblings", i, c.Size())
		}
	}
}
