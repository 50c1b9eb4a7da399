package vclock

import (
	"fmt"
	"math"
)

// Put is the coordinator's write (docs/causality.md §3.5.1, the direct form of
// the three-argument update): it writes v with the client's causal context ctx
// through actor, on top of the coordinator's own local clock.
//
// The result keeps exactly the local values whose dots ctx does not cover,
// raises every counter to max(local, ctx), and gives v the fresh dot
// (actor, max(local[actor], ctx[actor]) + 1) at the head of actor's entry.
// Its context strictly dominates both ctx and local.Context(). A nil ctx is
// a blind write: it supersedes nothing.
//
// The caller must choose actor so that the dot is really fresh
// (docs/causality.md §6.1) and must replicate the whole result (§6.5).
//
// Put panics if TryPut would return an error: an empty actor, an invalid
// ctx or local clock, or a counter overflow. Contexts decoded by ParseToken
// or UnmarshalVV and clocks decoded by Unmarshal or produced by this
// package are always valid; callers handling contexts whose counter for
// actor may be math.MaxUint64 (forged tokens, §6.9) should use TryPut.
// Inputs are not modified and the result does not alias them.
func Put(local Clock, ctx VV, actor Actor, v Sibling) Clock {
	c, err := TryPut(local, ctx, actor, v)
	if err != nil {
		panic(fmt.Sprintf("vclock.Put: %v", err))
	}
	return c
}

// TryPut is Put returning an error instead of panicking: ErrInvalidActor
// for an empty actor, an error wrapping ErrMalformedContext for an invalid
// ctx, one wrapping ErrCorrupt for an invalid local clock, and
// ErrCounterOverflow if no fresh dot can be minted for actor.
func TryPut(local Clock, ctx VV, actor Actor, v Sibling) (Clock, error) {
	if actor == "" {
		return Clock{}, ErrInvalidActor
	}
	if err := ctx.Validate(); err != nil {
		return Clock{}, err
	}
	if err := local.Validate(); err != nil {
		return Clock{}, err
	}
	l := local.Entries
	out := make([]Entry, 0, len(l)+len(ctx)+1)
	done := false // the new value has been placed
	place := func(e Entry) error {
		if !done {
			switch c := cmpActor(e.Actor, actor); {
			case c == 0:
				if e.N == math.MaxUint64 {
					return ErrCounterOverflow
				}
				vs := make([]Sibling, 0, len(e.Values)+1)
				vs = append(vs, v)
				e.Values = append(vs, e.Values...)
				e.N++
				done = true
			case c > 0:
				out = append(out, Entry{Actor: actor, N: 1, Values: []Sibling{v}})
				done = true
			}
		}
		out = append(out, e)
		return nil
	}
	i, j := 0, 0
	for i < len(l) || j < len(ctx) {
		var e Entry
		switch {
		case j == len(ctx) || (i < len(l) && cmpActor(l[i].Actor, ctx[j].Actor) < 0):
			e = l[i] // ctx knows nothing of this actor: keep all values
			i++
		case i == len(l) || cmpActor(ctx[j].Actor, l[i].Actor) < 0:
			e = Entry{Actor: ctx[j].Actor, N: ctx[j].N}
			j++
		default:
			e = l[i]
			c := ctx[j].N
			var keep uint64 // values whose dots ctx does not cover
			if e.N > c {
				keep = e.N - c
			}
			if uint64(len(e.Values)) > keep {
				e.Values = e.Values[:keep]
			}
			e.N = max(e.N, c)
			i++
			j++
		}
		if err := place(e); err != nil {
			return Clock{}, err
		}
	}
	if !done {
		out = append(out, Entry{Actor: actor, N: 1, Values: []Sibling{v}})
	}
	return deepCopy(out), nil
}
