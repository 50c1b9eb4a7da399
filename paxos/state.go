package paxos

import (
	"bytes"
	"slices"
)

// State is a register's value as the change functions see it: the value a
// ballot is accepted with. A register never written is the zero State.
type State struct {
	// Exists: the register holds a value (false: never written, or deleted).
	Exists bool
	Value  []byte
	// Version counts the changes applied (writes, deletes, lock changes).
	Version uint64
	// Fences: per lock name, the newest token a fenced write carried
	// (sorted by lock name).
	Fences []Fence
	// Lock is the state of a lock register (unused by data registers).
	Lock Lock
	// Recent: the ids of the last changes applied, oldest first, at most
	// the window the node keeps.
	Recent []Recent
}

// Fence is a lock name and a token.
type Fence struct {
	Lock  string
	Token uint64
}

// Lock is a lock register's grant. Token is the last token issued (kept
// when the lock is released or taken over, so tokens only increase).
type Lock struct {
	Held     bool
	Holder   string
	HolderOp []byte
	Token    uint64
	TTLms    uint32
	Renewals uint64
}

// Recent records an applied change by its operation id, so a retry of it
// answers the same result instead of applying again.
type Recent struct {
	ID      []byte
	Outcome Outcome
	Version uint64
	Token   uint64
}

// Equal reports whether two states are the same value.
func (s State) Equal(o State) bool {
	return s.Exists == o.Exists && bytes.Equal(s.Value, o.Value) && s.Version == o.Version &&
		slices.Equal(s.Fences, o.Fences) && s.Lock.equal(o.Lock) &&
		slices.EqualFunc(s.Recent, o.Recent, func(a, b Recent) bool {
			return bytes.Equal(a.ID, b.ID) && a.Outcome == b.Outcome && a.Version == b.Version && a.Token == b.Token
		})
}

func (l Lock) equal(o Lock) bool {
	return l.Held == o.Held && l.Holder == o.Holder && bytes.Equal(l.HolderOp, o.HolderOp) &&
		l.Token == o.Token && l.TTLms == o.TTLms && l.Renewals == o.Renewals
}

// fence returns the newest token recorded for lock (0: none).
func (s State) fence(lock string) uint64 {
	i, ok := slices.BinarySearchFunc(s.Fences, lock, func(f Fence, l string) int { return compareStrings(f.Lock, l) })
	if !ok {
		return 0
	}
	return s.Fences[i].Token
}

// withFence returns the fences with lock's token set to token.
func (s State) withFence(lock string, token uint64) []Fence {
	out := slices.Clone(s.Fences)
	i, ok := slices.BinarySearchFunc(out, lock, func(f Fence, l string) int { return compareStrings(f.Lock, l) })
	if ok {
		out[i].Token = token
		return out
	}
	return slices.Insert(out, i, Fence{Lock: lock, Token: token})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// recent returns the recorded change with id.
func (s State) recent(id []byte) (Recent, bool) {
	if len(id) == 0 {
		return Recent{}, false
	}
	for _, r := range s.Recent {
		if bytes.Equal(r.ID, id) {
			return r, true
		}
	}
	return Recent{}, false
}

// remember returns the recent ids with r appended, keeping the last window.
func (s State) remember(r Recent, window int) []Recent {
	if len(r.ID) == 0 || window <= 0 {
		return s.Recent
	}
	out := append(slices.Clone(s.Recent), r)
	if len(out) > window {
		out = out[len(out)-window:]
	}
	return out
}

// remembersSince reports whether the register remembers the id of every
// change applied after version base (each applied change takes the next
// version and records its id, so the kept ids are a run of versions).
func (s State) remembersSince(base uint64) bool {
	if s.Version <= base {
		return true
	}
	return len(s.Recent) > 0 && s.Recent[0].Version <= base+1
}
