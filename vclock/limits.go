package vclock

import (
	"encoding/binary"
	"fmt"
)

// Bounds on what a client may send and what a read returns. The defaults
// sit far above what a real cluster produces and far below what hurts.
const (
	// DefaultMaxContextActors bounds the actors of a causal context. A real
	// key's clock holds a few actors per node incarnation (a fresh per-key
	// epoch after a wiped disk or an unclean stop) times the nodes that
	// coordinated it: tens, rarely a hundred. A million-actor context (29
	// MB) stored on every replica made each read of the key take seconds.
	DefaultMaxContextActors = 1000
	// DefaultMaxContextBytes bounds a context token's length. An actor is
	// about 20-30 bytes encoded ("n12#0123456789abcdef.12345" and its
	// counter), so 1,000 actors are some 30 KB, 40 KB as a token.
	DefaultMaxContextBytes = 64 << 10
)

// ContextLimits bound a client's causal context. A zero field is no bound.
type ContextLimits struct {
	MaxBytes  int // token length
	MaxActors int // dots
}

// DefaultContextLimits are the defaults above.
func DefaultContextLimits() ContextLimits {
	return ContextLimits{MaxBytes: DefaultMaxContextBytes, MaxActors: DefaultMaxContextActors}
}

// ContextTooLargeError refuses a context past a bound (Actors is 0 when the
// token was refused on its length, before decoding). It wraps
// ErrMalformedContext.
type ContextTooLargeError struct {
	Bytes, MaxBytes   int
	Actors, MaxActors int
}

func (e *ContextTooLargeError) Error() string {
	if e.Actors > 0 {
		return fmt.Sprintf("context has %d actors, the limit is %d", e.Actors, e.MaxActors)
	}
	return fmt.Sprintf("context token is %d bytes, the limit is %d", e.Bytes, e.MaxBytes)
}

func (e *ContextTooLargeError) Unwrap() error { return ErrMalformedContext }

// ParseTokenLimited is ParseToken refusing a token longer than l.MaxBytes
// before decoding it, and a context with more than l.MaxActors dots.
func ParseTokenLimited(s string, l ContextLimits) (VV, error) {
	if l.MaxBytes > 0 && len(s) > l.MaxBytes {
		return nil, &ContextTooLargeError{Bytes: len(s), MaxBytes: l.MaxBytes, MaxActors: l.MaxActors}
	}
	v, err := ParseToken(s)
	if err != nil {
		return nil, err
	}
	if l.MaxActors > 0 && len(v) > l.MaxActors {
		return nil, &ContextTooLargeError{Bytes: len(s), MaxBytes: l.MaxBytes, Actors: len(v), MaxActors: l.MaxActors}
	}
	return v, nil
}

// EncodedSize is len(c.Marshal()), computed without encoding.
func (c Clock) EncodedSize() int {
	n := 1 + uvarintLen(uint64(len(c.Entries)))
	for _, e := range c.Entries {
		n += entryHeaderSize(e)
		for _, s := range e.Values {
			n += siblingSize(s)
		}
	}
	return n
}

func entryHeaderSize(e Entry) int {
	return uvarintLen(uint64(len(e.Actor))) + len(e.Actor) + uvarintLen(e.N) + uvarintLen(uint64(len(e.Values)))
}

func siblingSize(s Sibling) int { return 1 + uvarintLen(uint64(len(s.Value))) + len(s.Value) }

func uvarintLen(x uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], x)
}

// Bounded is the part of c a read may return within maxBytes (by
// EncodedSize): every entry with, per entry, its oldest values that fit,
// taken entry by entry. An entry whose newest values are left out gets a
// counter lowered by as many (an entry left with no history is left
// out), so the view is a valid clock and its Context
// covers exactly the values it shows (and the history before them): a
// write with that context replaces only what the reader saw, and the values
// left out stay as siblings for a later read. A clock within maxBytes (or
// maxBytes <= 0) is returned as is; the view aliases c.
func (c Clock) Bounded(maxBytes int) Clock {
	if maxBytes <= 0 || c.EncodedSize() <= maxBytes {
		return c
	}
	out := make([]Entry, 0, len(c.Entries))
	size := 1 + uvarintLen(uint64(len(c.Entries)))
	for _, e := range c.Entries {
		size += entryHeaderSize(e)
	}
	for _, e := range c.Entries {
		keep := 0
		for p := len(e.Values) - 1; p >= 0; p-- { // oldest first
			s := siblingSize(e.Values[p])
			if size+s > maxBytes {
				break
			}
			size += s
			keep++
		}
		drop := len(e.Values) - keep
		if e.N == uint64(drop) {
			continue // no history of this actor left to show
		}
		view := Entry{Actor: e.Actor, N: e.N - uint64(drop)}
		if keep > 0 {
			view.Values = e.Values[drop:]
		}
		out = append(out, view)
	}
	return Clock{Entries: out}
}
