package paxos

import (
	"math"
	"strconv"
)

// OpKind names a change function. The set is closed: a change travels as
// data, never as code.
type OpKind uint8

const (
	// OpGet changes nothing (a linearizable read).
	OpGet OpKind = iota + 1
	// OpSet writes Value, if the condition holds.
	OpSet
	// OpDelete deletes the value, if the condition holds.
	OpDelete
	// OpIncrement adds By to the value, a decimal integer (absent: 0).
	OpIncrement
	// OpAcquire grants a free lock to Holder for TTLms.
	OpAcquire
	// OpTakeover grants a held lock to Holder if its grant is still
	// (Token, Renewals): the holder did not renew while the caller waited.
	OpTakeover
	// OpRenew renews the grant with Token.
	OpRenew
	// OpRelease frees the lock if it is held with Token.
	OpRelease
)

// Op is one request's change.
type Op struct {
	Kind OpKind
	// ID names the change for retries (empty: not recorded).
	ID []byte

	// Condition of OpSet/OpDelete: HasVersion → the version must be
	// Version; ExpectAbsent → no value may exist.
	HasVersion   bool
	Version      uint64
	ExpectAbsent bool

	Value []byte
	By    int64
	// Fence, when Lock is set: refused if the register has seen a newer
	// token of the lock.
	Fence Fence

	// Retry: an earlier try of this change may have applied it. If the
	// register does not remember the id, the change is applied only if the
	// register remembers every change since the earlier try's base
	// (RetryBase, the version it was computed from; unknown when
	// !RetryBaseKnown), or if its own condition tells (a version); any
	// other change (an increment, an unconditional write, a lock change)
	// is not applied again: the answer is Forgotten. RetryBaseKnown also
	// says the earlier tries were this proposer's own rounds, which a
	// later chosen round supersedes; without it a copy of the change may
	// still be on its way to another proposer (a forwarded request, a
	// client's earlier try) and apply later.
	Retry          bool
	RetryBase      uint64
	RetryBaseKnown bool

	// Locks.
	Holder   string
	TTLms    uint32
	Token    uint64
	Renewals uint64
}

// Outcome is what a change function did.
type Outcome uint8

const (
	// Applied: the state changed as asked (OpGet: read).
	Applied Outcome = iota + 1
	// ConditionFailed: the condition did not hold; nothing changed.
	ConditionFailed
	// Fenced: a newer token of the fence's lock was seen; nothing changed.
	Fenced
	// NotANumber: OpIncrement of a value that is not a decimal integer, or
	// that would overflow.
	NotANumber
	// Held: the lock is held by another grant.
	Held
	// NotHolder: renew or release with a token that does not hold the lock.
	NotHolder
	// Forgotten: a retried change the register no longer remembers, which
	// may or may not have applied; nothing changed (at most once past the
	// window of recent ids).
	Forgotten
)

// Result is a change's answer, evaluated on the state it was applied to.
type Result struct {
	Outcome Outcome
	// The state after the change (before it, when nothing changed).
	Exists  bool
	Value   []byte
	Version uint64
	Lock    Lock
	// FenceSeen: the newer token that fenced the change.
	FenceSeen uint64
	// Deduplicated: the change's id was recorded; this is that answer.
	Deduplicated bool
	// Remembered: a retried change whose id the register does not hold,
	// while it holds the id of every change applied since the retried
	// change's base (the version its condition names, or the base the
	// retry carries), and no earlier try can apply later (the register is
	// past the version a condition names, or the earlier tries were the
	// proposer's own superseded rounds): no try of it ever applies, so an
	// outcome other than Applied is as definite as a first try's.
	Remembered bool
}

// DefaultWindow is how many recent change ids a register keeps: enough for
// a few rounds of a hot key's batches.
const DefaultWindow = 64

// Apply evaluates op on s and returns the new state and the result. A
// change whose id s recorded is not applied again.
func Apply(s State, op Op, window int) (State, Result) {
	if r, ok := s.recent(op.ID); ok {
		return s, dedupResult(s, r)
	}
	if op.Retry && blind(op) && !(op.RetryBaseKnown && s.remembersSince(op.RetryBase)) {
		return s, resultOf(s, Forgotten)
	}
	next, res, changed := apply(s, op)
	if changed {
		next.Version = s.Version + 1
		next.Recent = next.remember(Recent{ID: op.ID, Outcome: Applied, Version: next.Version, Token: next.Lock.Token}, window)
		res = resultOf(next, Applied)
	}
	if op.Retry && len(op.ID) > 0 {
		base, known := retryBase(op)
		res.Remembered = known && s.remembersSince(base) && (op.RetryBaseKnown || s.Version > base)
	}
	return next, res
}

// retryBase is a version no earlier try of op can have applied at or
// below: a change conditioned on version V applies only at V+1, whatever
// its tries were computed from; otherwise the base the retry carries.
// While the register is not past V, a copy of the change sent elsewhere
// can still apply at V+1 later, so only a register past the base proves
// that no try ever applies (see Apply).
func retryBase(op Op) (uint64, bool) {
	if op.HasVersion {
		return op.Version, true
	}
	return op.RetryBase, op.RetryBaseKnown
}

// ApplyAll applies ops in order (one accept decides them all).
func ApplyAll(s State, ops []Op, window int) (State, []Result) {
	out := make([]Result, len(ops))
	for i, op := range ops {
		s, out[i] = Apply(s, op, window)
	}
	return s, out
}

func dedupResult(s State, r Recent) Result {
	res := resultOf(s, r.Outcome)
	res.Deduplicated = true
	if s.Version != r.Version {
		res.Version, res.Value, res.Exists = r.Version, nil, false
	}
	res.Lock.Token = r.Token
	return res
}

func resultOf(s State, o Outcome) Result {
	return Result{Outcome: o, Exists: s.Exists, Value: s.Value, Version: s.Version, Lock: s.Lock}
}

// apply evaluates op; changed reports a new state (whose version, recent
// ids and result Apply fills in).
func apply(s State, op Op) (State, Result, bool) {
	if op.Fence.Lock != "" {
		if seen := s.fence(op.Fence.Lock); op.Fence.Token < seen {
			r := resultOf(s, Fenced)
			r.FenceSeen = seen
			return s, r, false
		}
	}
	switch op.Kind {
	case OpGet:
		return s, resultOf(s, Applied), false
	case OpSet, OpDelete:
		if !conditionHolds(s, op) {
			return s, resultOf(s, ConditionFailed), false
		}
		next := s
		next.Exists, next.Value = op.Kind == OpSet, nil
		if op.Kind == OpSet {
			next.Value = op.Value
		}
		return fenced(next, op), Result{}, true
	case OpIncrement:
		n, ok := increment(s, op.By)
		if !ok {
			return s, resultOf(s, NotANumber), false
		}
		next := s
		next.Exists, next.Value = true, []byte(strconv.FormatInt(n, 10))
		return fenced(next, op), Result{}, true
	case OpAcquire, OpTakeover, OpRenew, OpRelease:
		return applyLock(s, op)
	}
	return s, resultOf(s, ConditionFailed), false
}

func conditionHolds(s State, op Op) bool {
	switch {
	case op.HasVersion:
		return s.Version == op.Version
	case op.ExpectAbsent:
		return !s.Exists
	}
	return true
}

func fenced(next State, op Op) State {
	if op.Fence.Lock != "" {
		next.Fences = next.withFence(op.Fence.Lock, op.Fence.Token)
	}
	return next
}

func increment(s State, by int64) (int64, bool) {
	var n int64
	if s.Exists {
		v, err := strconv.ParseInt(string(s.Value), 10, 64)
		if err != nil {
			return 0, false
		}
		n = v
	}
	if (by > 0 && n > math.MaxInt64-by) || (by < 0 && n < math.MinInt64-by) {
		return 0, false
	}
	return n + by, true
}

// blind reports a change whose own condition cannot tell whether an
// earlier try of it applied: everything but a write or delete that expects
// a version (versions only grow, so a condition that holds again proves
// the earlier try did not apply), an acquire and a read.
func blind(op Op) bool {
	switch op.Kind {
	case OpGet, OpAcquire: // an acquire recognises its own grant by holder and id
		return false
	case OpSet, OpDelete:
		return !op.HasVersion
	}
	return true
}
