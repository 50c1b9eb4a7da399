package paxossim

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

// Input is a client's request to a register, as the history records it.
type Input struct {
	Key          string
	Kind         paxos.OpKind
	Value        string
	HasVersion   bool
	Version      uint64
	ExpectAbsent bool
	By           int64
}

// OpCollect is collection removing a tombstoned register (a history entry
// of its own, not a paxos change). Record it with an unknown outcome: a
// change racing with it keeps the register alive, and collection then
// has no effect.
const OpCollect paxos.OpKind = 200

// Output is the answer the client got. Unknown: the outcome is not known
// (the operation returns at +∞ and may have applied or not).
type Output struct {
	Unknown bool
	Outcome paxos.Outcome
	Exists  bool
	Value   string
	Version uint64
	// Dedup: the answer of a retry recorded by operation id; its value is
	// not checked (the state may have moved on).
	Dedup bool
}

// OutputOf converts a change's result.
func OutputOf(r paxos.Result) Output {
	return Output{Outcome: r.Outcome, Exists: r.Exists, Value: string(r.Value), Version: r.Version, Dedup: r.Deduplicated}
}

// InputOf converts a change.
func InputOf(key string, op paxos.Op) Input {
	return Input{Key: key, Kind: op.Kind, Value: string(op.Value), HasVersion: op.HasVersion, Version: op.Version, ExpectAbsent: op.ExpectAbsent, By: op.By}
}

// register is the model's state: a versioned register.
type register struct {
	Exists  bool
	Value   string
	Version uint64
}

// effect is the specification of the data changes, written apart from
// paxos.Apply: get reads; set and delete apply iff their condition holds
// (version equal, or no value); increment adds to a decimal value (absent:
// 0) unless it is not one or would overflow; every applied change counts
// one version. Collection turns a register with no value into the absent
// register (version 0).
func effect(s register, in Input) (register, paxos.Outcome) {
	switch in.Kind {
	case paxos.OpGet:
		return s, paxos.Applied
	case paxos.OpSet, paxos.OpDelete:
		if (in.HasVersion && s.Version != in.Version) || (!in.HasVersion && in.ExpectAbsent && s.Exists) {
			return s, paxos.ConditionFailed
		}
		if in.Kind == paxos.OpSet {
			return register{Exists: true, Value: in.Value, Version: s.Version + 1}, paxos.Applied
		}
		return register{Version: s.Version + 1}, paxos.Applied
	case paxos.OpIncrement:
		var n int64
		if s.Exists {
			v, err := strconv.ParseInt(s.Value, 10, 64)
			if err != nil {
				return s, paxos.NotANumber
			}
			n = v
		}
		if (in.By > 0 && n > math.MaxInt64-in.By) || (in.By < 0 && n < math.MinInt64-in.By) {
			return s, paxos.NotANumber
		}
		return register{Exists: true, Value: strconv.FormatInt(n+in.By, 10), Version: s.Version + 1}, paxos.Applied
	case OpCollect:
		if s.Exists {
			return s, paxos.ConditionFailed
		}
		return register{}, paxos.Applied
	}
	return s, paxos.ConditionFailed
}

func step(state, input, output any) (bool, any) {
	s, in, out := state.(register), input.(Input), output.(Output)
	next, outcome := effect(s, in)
	if out.Unknown {
		return true, next
	}
	if out.Outcome != outcome {
		return false, s
	}
	if outcome == paxos.Applied && in.Kind != paxos.OpGet {
		if out.Version != next.Version && in.Kind != OpCollect {
			return false, s
		}
		if !out.Dedup && in.Kind != OpCollect && (out.Exists != next.Exists || out.Value != next.Value) {
			return false, s
		}
		return true, next
	}
	return out.Exists == s.Exists && out.Value == s.Value && out.Version == s.Version, s
}

// Model is the versioned register model, partitioned by key.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
			var keys []string
			by := map[string][]porcupine.Operation{}
			for _, op := range h {
				k := op.Input.(Input).Key
				if _, ok := by[k]; !ok {
					keys = append(keys, k)
				}
				by[k] = append(by[k], op)
			}
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, by[k])
			}
			return out
		},
		Init: func() any { return register{} },
		Step: step,
		DescribeOperation: func(input, output any) string {
			in, out := input.(Input), output.(Output)
			return describeInput(in) + " → " + describeOutput(out)
		},
		DescribeState: func(state any) string {
			s := state.(register)
			if !s.Exists {
				return fmt.Sprintf("∅ v%d", s.Version)
			}
			return fmt.Sprintf("%q v%d", s.Value, s.Version)
		},
	}
}

func describeInput(in Input) string {
	var s string
	switch in.Kind {
	case paxos.OpGet:
		s = "get"
	case paxos.OpSet:
		s = fmt.Sprintf("set %q", in.Value)
	case paxos.OpDelete:
		s = "delete"
	case paxos.OpIncrement:
		s = fmt.Sprintf("incr %d", in.By)
	case OpCollect:
		s = "collect"
	default:
		s = fmt.Sprintf("op%d", in.Kind)
	}
	switch {
	case in.HasVersion:
		s += fmt.Sprintf(" if v%d", in.Version)
	case in.ExpectAbsent:
		s += " if absent"
	}
	return in.Key + ": " + s
}

func describeOutput(out Output) string {
	if out.Unknown {
		return "unknown"
	}
	s := fmt.Sprintf("outcome %d", out.Outcome)
	if out.Dedup {
		s += " dedup"
	}
	if out.Exists {
		return s + fmt.Sprintf(" %q v%d", out.Value, out.Version)
	}
	return s + fmt.Sprintf(" ∅ v%d", out.Version)
}

// CheckHistory checks a history against Model, within timeout (a
// time-out is porcupine.Unknown, which callers count as a failure).
func CheckHistory(h []porcupine.Operation, timeout time.Duration) porcupine.CheckResult {
	return porcupine.CheckOperationsTimeout(Model(), h, timeout)
}
