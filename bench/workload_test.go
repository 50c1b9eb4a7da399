package bench

import (
	"math"
	"testing"
)

func TestMixProportions(t *testing.T) {
	const draws = 200_000
	for _, name := range WorkloadNames() {
		w := Workloads[name]
		c := newOpChooser(w)
		r := newRand(11)
		var got [numOps]int
		for range draws {
			got[c.next(r)]++
		}
		for _, op := range Ops() {
			f := float64(got[op]) / draws
			if math.Abs(f-w.Mix[op]) > 0.01 {
				t.Errorf("workload %s: %s is %.3f of operations, want %.3f", name, op, f, w.Mix[op])
			}
			if w.Mix[op] == 0 && got[op] > 0 {
				t.Errorf("workload %s: %d %s operations, want none", name, got[op], op)
			}
		}
	}
}

func TestParseValueSize(t *testing.T) {
	for in, want := range map[string]ValueSize{"100": {100, 100}, "10-1000": {10, 1000}, " 0 ": {0, 0}} {
		got, err := ParseValueSize(in)
		if err != nil || got != want {
			t.Errorf("ParseValueSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "10-", "20-10", "-5"} {
		if _, err := ParseValueSize(in); err == nil {
			t.Errorf("ParseValueSize(%q) accepted", in)
		}
	}
}

func TestLookupWorkload(t *testing.T) {
	for _, name := range []string{"a", "B", "c", "d", "f", "write", "load"} {
		if _, err := LookupWorkload(name); err != nil {
			t.Errorf("workload %s: %v", name, err)
		}
	}
	if _, err := LookupWorkload("e"); err == nil {
		t.Error("workload e (scans) accepted")
	}
	if got := Workloads["b"].MixString(); got != "read 95%, update 5%" {
		t.Errorf("mix of b = %q", got)
	}
}
