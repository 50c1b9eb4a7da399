package vclock

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAccessors(t *testing.T) {
	c := mustClock("{a:4[5,2], b:1[], c:2[⊥,3] | }")
	if got := fmtSiblings(c.Values()); got != "[5,2,⊥,3]" {
		t.Errorf("Values = %s", got)
	}
	if got := fmtLive(c.Live()); got != "[5,2,3]" {
		t.Errorf("Live = %s", got)
	}
	if c.Size() != 4 || c.IsEmpty() || c.AllTombstones() {
		t.Errorf("Size/IsEmpty/AllTombstones wrong")
	}
	if got := fmtVV(c.Context()); got != "ctx{a:4, b:1, c:2}" {
		t.Errorf("Context = %s", got)
	}
	for a, n := range map[Actor]uint64{"a": 4, "b": 1, "c": 2, "": 0, "aa": 0, "d": 0} {
		if c.Counter(a) != n || c.Context().Get(a) != n {
			t.Errorf("Counter(%q) = %d, Get = %d, want %d", a, c.Counter(a), c.Context().Get(a), n)
		}
	}
	var empty Clock
	if !empty.IsEmpty() || empty.Size() != 0 || empty.AllTombstones() || empty.Context() != nil ||
		empty.Values() != nil || empty.Live() != nil || empty.Validate() != nil || empty.Counter("a") != 0 {
		t.Errorf("empty clock accessors wrong")
	}
	for s, want := range map[string]bool{
		"{a:3[] | }":                false, // no siblings
		"{a:3[⊥] | }":               true,
		"{a:3[⊥], b:2[⊥,⊥] | }":     true,
		"{a:3[⊥], b:2[⊥,x] | }":     false,
		"{a:3[x] | }":               false,
		"{a:3[⊥], b:2[], c:1[] | }": true,
	} {
		if got := mustClock(s).AllTombstones(); got != want {
			t.Errorf("AllTombstones(%s) = %v", s, got)
		}
	}
	if (Clock{Entries: []Entry{{Actor: "a", N: 1, Values: []Sibling{{Value: []byte{}}}}}}).Equal(
		Clock{Entries: []Entry{{Actor: "a", N: 1, Values: []Sibling{{}}}}}) == false {
		t.Errorf("nil and empty values should be equal")
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []Clock{
		{Entries: []Entry{{Actor: "", N: 1}}},
		{Entries: []Entry{{Actor: "a", N: 0}}},
		{Entries: []Entry{{Actor: "b", N: 1}, {Actor: "a", N: 1}}},
		{Entries: []Entry{{Actor: "a", N: 1}, {Actor: "a", N: 2}}},
		{Entries: []Entry{{Actor: "a", N: 1, Values: make([]Sibling, 2)}}},
	} {
		if err := c.Validate(); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Validate(%s) = %v", fmtClock(c), err)
		}
	}
	for _, v := range []VV{
		{{"", 1}},
		{{"a", 0}},
		{{"b", 1}, {"a", 1}},
		{{"a", 1}, {"a", 2}},
	} {
		if err := v.Validate(); !errors.Is(err, ErrMalformedContext) {
			t.Errorf("Validate(%s) = %v", fmtVV(v), err)
		}
	}
	if err := (VV{{"a", 1}, {"a\x00", 1}, {"b", math.MaxUint64}}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestDescends(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"ctx{}", "ctx{}", true},
		{"ctx{a:1}", "ctx{}", true},
		{"ctx{}", "ctx{a:1}", false},
		{"ctx{a:2, b:1}", "ctx{a:2}", true},
		{"ctx{a:2, b:1}", "ctx{b:1}", true},
		{"ctx{a:2, b:1}", "ctx{a:3}", false},
		{"ctx{a:2, c:1}", "ctx{a:1, b:1}", false},
		{"ctx{b:5}", "ctx{a:1}", false},
		{"ctx{a:1, b:1, c:1}", "ctx{a:1, c:1}", true},
	} {
		if got := Descends(mustVV(tc.a), mustVV(tc.b)); got != tc.want {
			t.Errorf("Descends(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCloneIsDeep(t *testing.T) {
	c := mustClock("{a:2[x,y], b:1[z] | }")
	d := c.Clone()
	d.Entries[0].Values[0].Value[0] = 'Q'
	d.Entries[1].N = 9
	d.Entries[0].Values[1].Tombstone = true
	if !c.Equal(mustClock("{a:2[x,y], b:1[z] | }")) {
		t.Fatalf("Clone shares memory: %s", fmtClock(c))
	}
	// Appending to a cloned value must not clobber a neighbour.
	d = c.Clone()
	d.Entries[0].Values[0].Value = append(d.Entries[0].Values[0].Value, '!')
	d.Entries[0].Values = append(d.Entries[0].Values, Sibling{Value: []byte("w")})
	if string(d.Entries[0].Values[1].Value) != "y" || string(d.Entries[1].Values[0].Value) != "z" {
		t.Fatalf("append clobbered a neighbour: %s", fmtClock(d))
	}
}

// scribble overwrites every byte and field of c.
func scribble(c Clock) {
	for i := range c.Entries {
		c.Entries[i].N += 100
		for j := range c.Entries[i].Values {
			c.Entries[i].Values[j].Tombstone = !c.Entries[i].Values[j].Tombstone
			for k := range c.Entries[i].Values[j].Value {
				c.Entries[i].Values[j].Value[k] = '#'
			}
		}
	}
}

func TestNoAliasing(t *testing.T) {
	const xs, ys = "{a:3[x3,x2], b:1[xb] | }", "{a:3[x3], c:2[yc2,yc1] | }"
	x, y := mustClock(xs), mustClock(ys)
	scribble(Sync(x, y))
	scribble(Sync(y, x))
	scribble(Sync(x, Clock{}))
	v := Sibling{Value: []byte("new")}
	scribble(Put(x, mustVV("ctx{a:2}"), "b", v))
	scribble(Put(y, nil, "d", v))
	if !x.Equal(mustClock(xs)) || !y.Equal(mustClock(ys)) || string(v.Value) != "new" {
		t.Fatalf("results alias inputs: x=%s y=%s v=%q", fmtClock(x), fmtClock(y), v.Value)
	}
	// Put must not write into spare capacity of the input's slices.
	big := make([]Sibling, 1, 8)
	big[0] = Sibling{Value: []byte("old")}
	z := Clock{Entries: []Entry{{Actor: "a", N: 5, Values: big}}}
	_ = Put(z, nil, "a", v)
	_ = Sync(z, mustClock("{a:6[q,old] | }"))
	if got := big[:2][1]; got.Value != nil {
		t.Fatalf("spare capacity written: %q", got.Value)
	}
}

func TestTryPutErrors(t *testing.T) {
	v := Sibling{Value: []byte("v")}
	for _, tc := range []struct {
		name  string
		local Clock
		ctx   VV
		actor Actor
		want  error
	}{
		{"empty actor", Clock{}, nil, "", ErrInvalidActor},
		{"unsorted ctx", Clock{}, VV{{"b", 1}, {"a", 1}}, "a", ErrMalformedContext},
		{"zero ctx", Clock{}, VV{{"a", 0}}, "a", ErrMalformedContext},
		{"invalid local", Clock{Entries: []Entry{{Actor: "a"}}}, nil, "a", ErrCorrupt},
		{"overflow via ctx", Clock{}, VV{{"a", math.MaxUint64}}, "a", ErrCounterOverflow},
		{"overflow via local", Clock{Entries: []Entry{{Actor: "a", N: math.MaxUint64}}}, nil, "a", ErrCounterOverflow},
	} {
		if _, err := TryPut(tc.local, tc.ctx, tc.actor, v); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "vclock.Put") {
					t.Errorf("%s: Put did not panic (%v)", tc.name, r)
				}
			}()
			Put(tc.local, tc.ctx, tc.actor, v)
		}()
	}
	// A forged context for another actor near the top of the range is
	// fine: only the writing actor's counter matters.
	c, err := TryPut(Clock{}, VV{{"a", math.MaxUint64}}, "b", v)
	if err != nil || c.Counter("a") != math.MaxUint64 || c.Counter("b") != 1 {
		t.Fatalf("TryPut = %s, %v", fmtClock(c), err)
	}
	if c, err = TryPut(Clock{}, VV{{"a", math.MaxUint64 - 1}}, "a", v); err != nil || c.Counter("a") != math.MaxUint64 {
		t.Fatalf("TryPut = %s, %v", fmtClock(c), err)
	}
}

func TestPutInsertsInOrder(t *testing.T) {
	base := mustClock("{b:1[x], d:1[y] | }")
	for _, a := range []Actor{"a", "b", "c", "d", "e", "b\x00", "\xff"} {
		got := Put(base, mustVV("ctx{d:1}"), a, Sibling{Value: []byte("v")})
		if err := got.Validate(); err != nil {
			t.Fatalf("actor %q: %v", a, err)
		}
		var actors []Actor
		for _, e := range got.Entries {
			actors = append(actors, e.Actor)
		}
		if !slices.Contains(actors, a) || got.Counter("d") != 1+btoi(a == "d") {
			t.Fatalf("actor %q: %s", a, fmtClock(got))
		}
	}
}

func btoi(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
