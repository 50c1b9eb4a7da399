package paxos_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
	"github.com/quorumkv/quorumkv/paxos"
)

// TestChangeFunctions runs testdata/ops: a register's state, then batches
// of changes applied to it in order (ApplyAll), printing each change's
// result and the state after the batch. The state carries over from one
// batch to the next. Regenerate the expectations with -rewrite.
//
//	state [value=V] [version=N]   set the state (no args: absent)
//	apply [window=N]              one change per line (default window:
//	KIND [id=ID] ...              paxos.DefaultWindow), see parseOp
//
// The test also checks that a change that did not apply left the state
// untouched and that no change mutates the state it was given.
func TestChangeFunctions(t *testing.T) {
	var s paxos.State
	datadriven.RunTest(t, "testdata/ops", func(t *testing.T, d *datadriven.TestData) string {
		w := cmdWords(t, d)
		switch d.Cmd {
		case "state":
			s = stateOf(t, w)
			return printState(s)
		case "apply":
			window := paxos.DefaultWindow
			if w.has("window") {
				window = int(w.uint(t, "window"))
			}
			var out strings.Builder
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				op := parseOp(t, line)
				before := cloneState(s)
				next, res := paxos.Apply(s, op, window)
				if !s.Equal(before) {
					t.Fatalf("%s: Apply changed its input state", line)
				}
				if res.Outcome != paxos.Applied || res.Deduplicated || op.Kind == paxos.OpGet {
					if !next.Equal(s) {
						t.Fatalf("%s: %s changed the state", line, outcomeNames[res.Outcome])
					}
				}
				fmt.Fprintf(&out, "%s: %s\n", strings.Fields(line)[0], printResult(res))
				s = next
			}
			return out.String() + "state: " + printState(s)
		}
		d.Fatalf(t, "unknown command %q", d.Cmd)
		return ""
	})
}

func cloneState(s paxos.State) paxos.State {
	c := s
	c.Value = append([]byte(nil), s.Value...)
	c.Fences = append([]paxos.Fence(nil), s.Fences...)
	c.Lock.HolderOp = append([]byte(nil), s.Lock.HolderOp...)
	c.Recent = nil
	for _, r := range s.Recent {
		r.ID = append([]byte(nil), r.ID...)
		c.Recent = append(c.Recent, r)
	}
	return c
}

// TestApplyAllMatchesApply: a batch decides each change on the state the
// previous ones left, exactly as applying them one by one.
func TestApplyAllMatchesApply(t *testing.T) {
	ops := []paxos.Op{
		{Kind: paxos.OpSet, ID: []byte("a"), Value: []byte("1")},
		{Kind: paxos.OpIncrement, ID: []byte("b"), By: 2},
		{Kind: paxos.OpSet, ID: []byte("c"), HasVersion: true, Version: 1, Value: []byte("x")},
		{Kind: paxos.OpSet, ID: []byte("d"), HasVersion: true, Version: 2, Value: []byte("y")},
		{Kind: paxos.OpIncrement, ID: []byte("b"), By: 2},
		{Kind: paxos.OpGet},
	}
	got, results := paxos.ApplyAll(paxos.State{}, ops, 4)
	var want paxos.State
	for i, op := range ops {
		var r paxos.Result
		want, r = paxos.Apply(want, op, 4)
		if printResult(r) != printResult(results[i]) {
			t.Errorf("op %d: ApplyAll %s, Apply %s", i, printResult(results[i]), printResult(r))
		}
	}
	if !got.Equal(want) {
		t.Fatalf("ApplyAll state %s, Apply %s", printState(got), printState(want))
	}
	if string(got.Value) != "y" || got.Version != 3 {
		t.Fatalf("state %s, want value y at version 3", printState(got))
	}
}
