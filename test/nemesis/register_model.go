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
// write.
type regState struct {
	Exists  bool
	Value   string
	Version uint64
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
// An unknown outcome is legal from any state; a change with an unknown
// outcome applies where its condition holds (the checker may also place
// it after every other operation, which is "never").
func regStep(s regState, in regInput, out regOutput) (bool, regState) {
	switch in.Op {
	case regGet:
		return out.Unknown || s.matches(out), s
	case regCAS:
		if s.Version != in.Expect {
			return out.Unknown || (!out.Applied && s.matches(out)), s
		}
		next := regState{Exists: true, Value: in.Value, Version: s.Version + 1}
		return out.Unknown || (out.Applied && next.matches(out)), next
	case regPut:
		next := regState{Exists: true, Value: in.Value, Version: s.Version + 1}
		return out.Unknown || (out.Applied && next.matches(out)), next
	case regIncr:
		cur, ok := s.number()
		if !ok {
			return out.Unknown || (!out.Applied && s.matches(out)), s
		}
		next := regState{Exists: true, Value: strconv.FormatInt(cur+in.By, 10), Version: s.Version + 1}
		return out.Unknown || (out.Applied && next.matches(out)), next
	}
	return false, s
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
	if !s.Exists {
		return fmt.Sprintf("absent@v%d", s.Version)
	}
	return fmt.Sprintf("%q@v%d", s.Value, s.Version)
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
			x := h.Sum64() ^ s.Version*0x9e3779b97f4a7c15
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
