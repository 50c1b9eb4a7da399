package nemesis

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	"github.com/anishathalye/porcupine"
)

// The register workload's operations (regInput.Op).
const (
	regGet  = "get"  // SerialGet
	regCAS  = "cas"  // CompareAndSet with ExpectVersion
	regPut  = "put"  // CompareAndSet with no condition
	regIncr = "incr" // Increment
)

// regInput is what a register operation asked for.
type regInput struct {
	Key    string
	Op     string
	Expect uint64 // regCAS: the version the register must have
	Value  string // regCAS, regPut: the value written
	By     int64  // regIncr
	// OpID names a change (cas, put, incr) to the store (WithOpID), so a
	// record can be matched with the register's recent ids and the logs.
	OpID string
}

// regOutput is what it returned. Unknown: the outcome is not known (it may
// have applied, now, later or never); the rest is then meaningless. A
// failed condition is Applied false with the register's current state.
type regOutput struct {
	Unknown bool
	Applied bool
	Found   bool
	Value   string
	Version uint64
}

// regState is one register as the API defines it: Version counts its
// applied changes (0 when never written); Exists is false until the first
// write. Latent1 and Latent2 count increments by 1 and by 2 whose outcome
// is unknown and that have not been seen to take effect (see regStep).
type regState struct {
	Exists           bool
	Value            string
	Version          uint64
	Latent1, Latent2 uint32
}

// regStep is the register's sequential specification: whether out is a
// legal answer to in from state s, and the state after it.
//
//   - get: found, value and version are the state's;
//   - cas: applied iff the state's version is Expect: the register then
//     holds Value at version+1, which the answer returns; a failed
//     condition returns the unchanged state;
//   - put: always applies (version+1);
//   - incr: the value read as a decimal integer (0 when absent) plus By,
//     stored as a decimal string at version+1; it does not apply to a value
//     that is not a number.
//
// An unknown outcome is legal from any state. A get with an unknown
// outcome changes nothing; a cas or put with an unknown outcome applies
// where the checker places it (its Return is +∞, so that may be after
// every other operation: never). An increment by 1 or 2 with an unknown
// outcome is instead recorded as returning at its call and adds a latent
// increment to the state; a later get or increment that shows the counter
// further on takes effect after as many latent increments as its answer
// needs (by 1 and by 2, a unique split since it must match both the version
// and the value gap). This is the same condition as returning the unknown
// increments at +∞ (each may take effect at any point after its call, or
// never), but the checker does not try every subset of them in every
// order: with a few dozen unknown increments on a counter, the +∞ form
// does not finish.
func regStep(s regState, in regInput, out regOutput) (bool, regState) {
	if out.Unknown {
		return true, s.unknown(in)
	}
	s = s.catchUp(in, out)
	switch in.Op {
	case regGet:
		return s.matches(out), s
	case regCAS:
		if s.Version != in.Expect {
			return !out.Applied && s.matches(out), s
		}
		next := s.set(in.Value)
		return out.Applied && next.matches(out), next
	case regPut:
		next := s.set(in.Value)
		return out.Applied && next.matches(out), next
	case regIncr:
		cur, ok := s.number()
		if !ok {
			return !out.Applied && s.matches(out), s
		}
		next := s.set(strconv.FormatInt(cur+in.By, 10))
		return out.Applied && next.matches(out), next
	}
	return false, s
}

// set is the state after a change that stores v.
func (s regState) set(v string) regState {
	s.Exists, s.Value, s.Version = true, v, s.Version+1
	return s
}

// unknown is the state after in with an unknown outcome, at the point the
// checker placed it.
func (s regState) unknown(in regInput) regState {
	switch in.Op {
	case regCAS:
		if s.Version == in.Expect {
			return s.set(in.Value)
		}
	case regPut:
		return s.set(in.Value)
	case regIncr:
		switch in.By {
		case 1:
			s.Latent1++
			return s
		case 2:
			s.Latent2++
			return s
		}
		if cur, ok := s.number(); ok {
			return s.set(strconv.FormatInt(cur+in.By, 10))
		}
	}
	return s
}

// catchUp lets latent increments take effect before a definite get or
// increment whose answer shows the counter further on than s: a increments
// by 1 and b by 2 where a+b is the version gap and a+2b the value gap. When
// no such split of the latent ones exists, s is returned as it is (and the
// answer will not match it). Gets and increments are the only operations
// the workload sends to a counter key, so a latent increment is never
// resolved by a cas or a put.
func (s regState) catchUp(in regInput, out regOutput) regState {
	if s.Latent1+s.Latent2 == 0 || !out.Found {
		return s
	}
	target, err := strconv.ParseInt(out.Value, 10, 64)
	if err != nil {
		return s
	}
	version := out.Version
	switch {
	case in.Op == regIncr && out.Applied && version > 0:
		version--
		target -= in.By
	case in.Op != regGet:
		return s
	}
	cur, ok := s.number()
	if !ok || version <= s.Version {
		return s
	}
	d := int64(version - s.Version)
	b := target - cur - d
	a := d - b
	if a < 0 || b < 0 || a > int64(s.Latent1) || b > int64(s.Latent2) {
		return s
	}
	s.Exists, s.Value, s.Version = true, strconv.FormatInt(target, 10), version
	s.Latent1 -= uint32(a)
	s.Latent2 -= uint32(b)
	return s
}

// matches reports whether an answer shows exactly this state.
func (s regState) matches(out regOutput) bool {
	if !s.Exists {
		return !out.Found && out.Version == s.Version
	}
	return out.Found && out.Value == s.Value && out.Version == s.Version
}

// number is the value as Increment reads it (0 when absent).
func (s regState) number() (int64, bool) {
	if !s.Exists {
		return 0, true
	}
	n, err := strconv.ParseInt(s.Value, 10, 64)
	return n, err == nil
}

func (s regState) String() string {
	out := fmt.Sprintf("%q@v%d", s.Value, s.Version)
	if !s.Exists {
		out = fmt.Sprintf("absent@v%d", s.Version)
	}
	if s.Latent1+s.Latent2 > 0 {
		out += fmt.Sprintf(" (unknown increments: %d×1, %d×2)", s.Latent1, s.Latent2)
	}
	return out
}

func (in regInput) String() string {
	switch in.Op {
	case regCAS:
		return fmt.Sprintf("cas(%s, v%d→%q)", in.Key, in.Expect, in.Value)
	case regPut:
		return fmt.Sprintf("put(%s, %q)", in.Key, in.Value)
	case regIncr:
		return fmt.Sprintf("incr(%s, %d)", in.Key, in.By)
	}
	return fmt.Sprintf("%s(%s)", in.Op, in.Key)
}

func (out regOutput) String() string {
	switch {
	case out.Unknown:
		return "unknown"
	case out.Found:
		return fmt.Sprintf("applied=%v %q@v%d", out.Applied, out.Value, out.Version)
	}
	return fmt.Sprintf("applied=%v absent@v%d", out.Applied, out.Version)
}

// partitionByKey splits a history into one history per key (each in the
// order given), sorted by key: the registers are independent, so the whole
// history is linearizable iff each key's is.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(regInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

// registerModel is the porcupine model of the register workload: one
// versioned register per key (partitioned by key), every key starting
// absent at version 0.
func registerModel() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() any { return regState{} },
		Step: func(state, input, output any) (bool, any) {
			return regStep(state.(regState), input.(regInput), output.(regOutput))
		},
		Equal: func(a, b any) bool { return a.(regState) == b.(regState) },
		Hash: func(state any) uint64 {
			s := state.(regState)
			h := fnv.New64a()
			_, _ = h.Write([]byte(s.Value))
			x := h.Sum64() ^ s.Version*0x9e3779b97f4a7c15 ^ uint64(s.Latent1)<<32 ^ uint64(s.Latent2)<<48
			if s.Exists {
				x ^= 1
			}
			return x
		},
		DescribeOperation: func(input, output any) string {
			return input.(regInput).String() + " → " + output.(regOutput).String()
		},
		DescribeState: func(state any) string { return state.(regState).String() },
	}
}
