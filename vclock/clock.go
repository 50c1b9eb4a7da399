package vclock

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Actor identifies a server-side replica incarnation (possibly with a
// per-key epoch) that coordinates writes. Actors are ordered bytewise.
type Actor string

// Sibling is one stored value. A Tombstone is a delete marker; it is a
// sibling like any other (it counts in Size) but is hidden by Live. A
// tombstone may carry a Value (e.g. metadata); the package does not care.
type Sibling struct {
	Value     []byte
	Tombstone bool
}

// Entry is one actor's slot of a Clock: all dots (Actor, 1..N) are in the
// clock's causal history and Values (newest first) hold the values of the
// top len(Values) dots: Values[p] has dot (Actor, N-p).
type Entry struct {
	Actor  Actor
	N      uint64
	Values []Sibling
}

// Clock is a DVVSet without anonymous values. Entries are strictly
// ascending by Actor. The zero value is the empty clock.
type Clock struct {
	Entries []Entry
}

// Dot names one write event: the N-th write coordinated by Actor.
type Dot struct {
	Actor Actor
	N     uint64
}

// VV is a version vector, used as a causal context: sorted strictly
// ascending by Actor, unique actors, every N >= 1. A missing actor means 0.
// The nil/empty VV is the empty context (a blind write).
type VV []Dot

var (
	// ErrCorrupt is returned (wrapped) by Unmarshal and Clock.Validate for a
	// clock that is malformed or violates an invariant.
	ErrCorrupt = errors.New("vclock: corrupt clock")
	// ErrMalformedContext is returned (wrapped) by ParseToken, UnmarshalVV
	// and VV.Validate for a malformed causal context.
	ErrMalformedContext = errors.New("vclock: malformed causal context")
	// ErrInvalidActor is returned by TryPut for an empty actor.
	ErrInvalidActor = errors.New("vclock: invalid (empty) actor")
	// ErrCounterOverflow is returned by TryPut when the actor's counter is
	// already math.MaxUint64, so no fresh dot can be minted. It is only
	// reachable with a forged context (docs/causality.md §6.9) or an actor that
	// skipped the amnesia checks of §6.1.
	ErrCounterOverflow = errors.New("vclock: counter overflow")
)

func cmpActor(a, b Actor) int { return strings.Compare(string(a), string(b)) }

// Context returns the clock's version vector ("join", docs/causality.md §3.2):
// one dot per entry, including entries without values. It is what a GET hands
// to the client.
func (c Clock) Context() VV {
	if len(c.Entries) == 0 {
		return nil
	}
	v := make(VV, len(c.Entries))
	for i, e := range c.Entries {
		v[i] = Dot{Actor: e.Actor, N: e.N}
	}
	return v
}

// Values returns all siblings, tombstones included, in entry order and
// newest first within an entry. The returned slice is new; the byte slices
// alias c.
func (c Clock) Values() []Sibling {
	n := c.Size()
	if n == 0 {
		return nil
	}
	out := make([]Sibling, 0, n)
	for _, e := range c.Entries {
		out = append(out, e.Values...)
	}
	return out
}

// Live returns the values of the non-tombstone siblings, in the order of
// Values. The byte slices alias c.
func (c Clock) Live() [][]byte {
	var out [][]byte
	for _, e := range c.Entries {
		for _, s := range e.Values {
			if !s.Tombstone {
				out = append(out, s.Value)
			}
		}
	}
	return out
}

// Size is the number of siblings, tombstones included (the sibling count
// that caps apply to, docs/causality.md §6.3).
func (c Clock) Size() int {
	n := 0
	for _, e := range c.Entries {
		n += len(e.Values)
	}
	return n
}

// IsEmpty reports whether the clock has no entries (knows no history).
func (c Clock) IsEmpty() bool { return len(c.Entries) == 0 }

// AllTombstones reports whether the clock has at least one sibling and all
// of its siblings are tombstones (a GET reports "not found").
func (c Clock) AllTombstones() bool {
	seen := false
	for _, e := range c.Entries {
		for _, s := range e.Values {
			if !s.Tombstone {
				return false
			}
			seen = true
		}
	}
	return seen
}

// Equal reports full structural equality: same actors, counters, value
// bytes and tombstone flags, in the same positions. A nil and an empty
// byte slice are equal.
func (c Clock) Equal(d Clock) bool {
	if len(c.Entries) != len(d.Entries) {
		return false
	}
	for i, e := range c.Entries {
		f := d.Entries[i]
		if e.Actor != f.Actor || e.N != f.N || len(e.Values) != len(f.Values) {
			return false
		}
		for j, s := range e.Values {
			t := f.Values[j]
			if s.Tombstone != t.Tombstone || !bytes.Equal(s.Value, t.Value) {
				return false
			}
		}
	}
	return true
}

// Validate checks invariants I1–I3: actors non-empty and strictly
// ascending (hence unique), N >= 1, len(Values) <= N. Errors wrap
// ErrCorrupt.
func (c Clock) Validate() error {
	for i, e := range c.Entries {
		if e.Actor == "" {
			return fmt.Errorf("%w: entry %d: empty actor", ErrCorrupt, i)
		}
		if i > 0 && cmpActor(c.Entries[i-1].Actor, e.Actor) >= 0 {
			return fmt.Errorf("%w: entry %d: actor %q not strictly after %q", ErrCorrupt, i, e.Actor, c.Entries[i-1].Actor)
		}
		if e.N == 0 {
			return fmt.Errorf("%w: entry %d (%q): zero counter", ErrCorrupt, i, e.Actor)
		}
		if uint64(len(e.Values)) > e.N {
			return fmt.Errorf("%w: entry %d (%q): %d values exceed counter %d", ErrCorrupt, i, e.Actor, len(e.Values), e.N)
		}
	}
	return nil
}

// Counter returns the counter of actor a, 0 if absent.
func (c Clock) Counter(a Actor) uint64 {
	i, ok := slices.BinarySearchFunc(c.Entries, a, func(e Entry, a Actor) int { return cmpActor(e.Actor, a) })
	if !ok {
		return 0
	}
	return c.Entries[i].N
}

// Clone returns a deep copy of c (value bytes included).
func (c Clock) Clone() Clock { return deepCopy(c.Entries) }

// deepCopy builds a Clock from entries, copying all sibling slices and
// value bytes into fresh memory (three allocations at most). Empty value
// byte slices become nil; entries without values get nil Values.
func deepCopy(entries []Entry) Clock {
	if len(entries) == 0 {
		return Clock{}
	}
	nsib, nbytes := 0, 0
	for _, e := range entries {
		nsib += len(e.Values)
		for _, s := range e.Values {
			nbytes += len(s.Value)
		}
	}
	out := make([]Entry, len(entries))
	var sibs []Sibling
	if nsib > 0 {
		sibs = make([]Sibling, nsib)
	}
	var buf []byte
	if nbytes > 0 {
		buf = make([]byte, nbytes)
	}
	si, bi := 0, 0
	for i, e := range entries {
		out[i] = Entry{Actor: e.Actor, N: e.N}
		if len(e.Values) == 0 {
			continue
		}
		vs := sibs[si : si+len(e.Values) : si+len(e.Values)]
		si += len(e.Values)
		for j, s := range e.Values {
			vs[j].Tombstone = s.Tombstone
			if len(s.Value) > 0 {
				end := bi + len(s.Value)
				vs[j].Value = buf[bi:end:end]
				copy(vs[j].Value, s.Value)
				bi = end
			}
		}
		out[i].Values = vs
	}
	return Clock{Entries: out}
}

// Get returns the counter of actor a in v, 0 if absent. v must be sorted.
func (v VV) Get(a Actor) uint64 {
	i, ok := slices.BinarySearchFunc(v, a, func(d Dot, a Actor) int { return cmpActor(d.Actor, a) })
	if !ok {
		return 0
	}
	return v[i].N
}

// Validate checks that v is a well-formed context: actors non-empty,
// strictly ascending (hence unique), every N >= 1. Errors wrap
// ErrMalformedContext.
func (v VV) Validate() error {
	for i, d := range v {
		if d.Actor == "" {
			return fmt.Errorf("%w: dot %d: empty actor", ErrMalformedContext, i)
		}
		if i > 0 && cmpActor(v[i-1].Actor, d.Actor) >= 0 {
			return fmt.Errorf("%w: dot %d: actor %q not strictly after %q", ErrMalformedContext, i, d.Actor, v[i-1].Actor)
		}
		if d.N == 0 {
			return fmt.Errorf("%w: dot %d (%q): zero counter", ErrMalformedContext, i, d.Actor)
		}
	}
	return nil
}

// Equal reports whether v and w hold the same dots (zero counters are
// treated as absent). Both must be sorted.
func (v VV) Equal(w VV) bool { return Descends(v, w) && Descends(w, v) }

// Descends reports whether a[i] >= b[i] for every actor i (missing actors
// count as 0). Both must be sorted by actor.
func Descends(a, b VV) bool {
	i := 0
	for _, d := range b {
		if d.N == 0 {
			continue
		}
		for i < len(a) && cmpActor(a[i].Actor, d.Actor) < 0 {
			i++
		}
		if i == len(a) || a[i].Actor != d.Actor || a[i].N < d.N {
			return false
		}
	}
	return true
}

// Less reports strict causality on counters only (docs/causality.md §3.3):
// VV(b) descends VV(a) and they differ. Values are ignored. Less(a, b) means
// every value of a is obsolete relative to b. A zero counter is treated as
// absent (the mathematically correct reading; the reference implementation
// differs, docs/causality.md §5.7).
func Less(a, b Clock) bool {
	x, y := a.Entries, b.Entries
	i, j := 0, 0
	strict := false
	for i < len(x) || j < len(y) {
		var c int
		switch {
		case i == len(x):
			c = 1
		case j == len(y):
			c = -1
		default:
			c = cmpActor(x[i].Actor, y[j].Actor)
		}
		switch {
		case c < 0: // only in a
			if x[i].N > 0 {
				return false
			}
			i++
		case c > 0: // only in b
			if y[j].N > 0 {
				strict = true
			}
			j++
		default:
			if x[i].N > y[j].N {
				return false
			}
			if x[i].N < y[j].N {
				strict = true
			}
			i++
			j++
		}
	}
	return strict
}

// Join is the least context descending both a and b: each actor's larger
// counter. Both must be sorted; the result is.
func Join(a, b VV) VV {
	out := make(VV, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && cmpActor(a[i].Actor, b[j].Actor) < 0):
			out = append(out, a[i])
			i++
		case i == len(a) || cmpActor(a[i].Actor, b[j].Actor) > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, Dot{Actor: a[i].Actor, N: max(a[i].N, b[j].N)})
			i, j = i+1, j+1
		}
	}
	return out
}
