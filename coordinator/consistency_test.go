package coordinator

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestRequiredLevels is every named level against N = 1..5. -1 means the
// level needs more replicas than the cluster keeps: an error, never a silent
// downgrade.
func TestRequiredLevels(t *testing.T) {
	want := map[Level][5]int{
		LevelOne:     {1, 1, 1, 1, 1},
		LevelTwo:     {-1, 2, 2, 2, 2},
		LevelThree:   {-1, -1, 3, 3, 3},
		LevelQuorum:  {1, 2, 2, 3, 3},
		LevelDefault: {1, 2, 2, 3, 3},
		LevelAll:     {1, 2, 3, 4, 5},
	}
	for lvl, row := range want {
		for i, w := range row {
			n := i + 1
			for _, strict := range []bool{false, true} {
				c := Consistency{Level: lvl, Strict: strict}
				t.Run(fmt.Sprintf("%s/N=%d", c, n), func(t *testing.T) {
					got, err := c.Required(n)
					if w < 0 {
						if !errors.Is(err, ErrInvalidArgument) {
							t.Fatalf("Required(%d) = %d, %v; want ErrInvalidArgument", n, got, err)
						}
						return
					}
					if err != nil || got != w {
						t.Fatalf("Required(%d) = %d, %v; want %d", n, got, err, w)
					}
				})
			}
		}
	}
}

// TestRequiredExplicitCount: an explicit R/W overrides the level, is
// accepted up to N, and is an error beyond N or below zero.
func TestRequiredExplicitCount(t *testing.T) {
	for n := 1; n <= 5; n++ {
		for count := 1; count <= 6; count++ {
			for _, lvl := range []Level{LevelDefault, LevelOne, LevelAll} {
				c := Consistency{Level: lvl, Count: count}
				got, err := c.Required(n)
				if count > n {
					if !errors.Is(err, ErrInvalidArgument) {
						t.Errorf("%+v.Required(%d) = %d, %v; want ErrInvalidArgument", c, n, got, err)
					}
					continue
				}
				if err != nil || got != count {
					t.Errorf("%+v.Required(%d) = %d, %v; want %d", c, n, got, err, count)
				}
			}
		}
	}
}

func TestRequiredInvalid(t *testing.T) {
	cases := []struct {
		name string
		c    Consistency
		n    int
	}{
		{"negative count", Consistency{Count: -1}, 3},
		{"very negative count", Consistency{Count: -1 << 40}, 3},
		{"unknown level", Consistency{Level: Level(6)}, 3},
		{"negative level", Consistency{Level: Level(-1)}, 3},
		{"huge level", Consistency{Level: Level(1 << 30)}, 3},
		{"zero replicas", Consistency{Level: LevelOne}, 0},
		{"negative replicas", Consistency{Level: LevelOne}, -2},
		{"zero replicas explicit", Consistency{Count: 1}, 0},
		{"count above N", Consistency{Count: 4}, 3},
		{"two of one", Consistency{Level: LevelTwo}, 1},
		{"three of two, strict", Consistency{Level: LevelThree, Strict: true}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Required(tc.n)
			if !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Required(%d) = %d, %v; want ErrInvalidArgument", tc.n, got, err)
			}
			if got != 0 {
				t.Errorf("Required returned %d with an error; want 0", got)
			}
		})
	}
}

// TestRequiredErrorNamesTheRequest: the error says what was asked and what
// the cluster keeps.
func TestRequiredErrorNamesTheRequest(t *testing.T) {
	_, err := Consistency{Level: LevelThree, Strict: true}.Required(2)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, s := range []string{"three,strict", "3", "2"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestConsistencyString(t *testing.T) {
	cases := []struct {
		c    Consistency
		want string
	}{
		{Consistency{}, "quorum"},
		{Consistency{Strict: true}, "quorum,strict"},
		{Consistency{Level: LevelOne}, "one"},
		{Consistency{Level: LevelTwo, Strict: true}, "two,strict"},
		{Consistency{Level: LevelThree}, "three"},
		{Consistency{Level: LevelQuorum}, "quorum"},
		{Consistency{Level: LevelAll, Strict: true}, "all,strict"},
		{Consistency{Count: 3}, "3"},
		{Consistency{Level: LevelOne, Count: 2, Strict: true}, "2,strict"},
		{Consistency{Level: Level(9)}, "level(9)"},
	}
	for _, tc := range cases {
		if got := tc.c.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.c, got, tc.want)
		}
	}
}

func TestLevelString(t *testing.T) {
	cases := map[Level]string{
		LevelDefault: "default", LevelOne: "one", LevelTwo: "two", LevelThree: "three",
		LevelQuorum: "quorum", LevelAll: "all", Level(-1): "level(-1)", Level(6): "level(6)",
	}
	for l, want := range cases {
		if got := l.String(); got != want {
			t.Errorf("Level(%d).String() = %q, want %q", int(l), got, want)
		}
	}
}

func TestParseLevel(t *testing.T) {
	ok := map[string]Level{
		"one": LevelOne, "ONE": LevelOne, "Two": LevelTwo, "three": LevelThree,
		"quorum": LevelQuorum, "QuOrUm": LevelQuorum, "all": LevelAll, "ALL": LevelAll,
	}
	for s, want := range ok {
		got, err := ParseLevel(s)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "default", "four", "one ", " quorum", "1", "local_quorum"} {
		if got, err := ParseLevel(s); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseLevel(%q) = %v, %v; want ErrInvalidArgument", s, got, err)
		}
	}
	// Every level's name parses back to it.
	for l := LevelOne; l <= LevelAll; l++ {
		if got, err := ParseLevel(l.String()); err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v", l.String(), got, err)
		}
	}
}

// TestTracker drives the pure quorum tracker through answer sequences.
func TestTracker(t *testing.T) {
	type step struct {
		success               bool
		met, impossible, done bool
	}
	cases := []struct {
		name       string
		need, reqs int
		start      [3]bool // met, impossible, done before any answer
		steps      []step
	}{
		{"all succeed", 2, 3, [3]bool{false, false, false}, []step{
			{true, false, false, false},
			{true, true, false, true},
		}},
		{"impossible still waits for the rest", 3, 3, [3]bool{false, false, false}, []step{
			{false, false, true, false},
			{true, false, true, false},
			{true, false, true, true},
		}},
		{"fail then reach quorum", 2, 3, [3]bool{false, false, false}, []step{
			{false, false, false, false},
			{true, false, false, false},
			{true, true, false, true},
		}},
		{"need one", 1, 1, [3]bool{false, false, false}, []step{
			{true, true, false, true},
		}},
		{"need one, fails", 1, 1, [3]bool{false, false, false}, []step{
			{false, false, true, true},
		}},
		{"fewer requests than needed", 3, 2, [3]bool{false, true, false}, []step{
			{true, false, true, false},
			{true, false, true, true},
		}},
		{"no requests", 1, 0, [3]bool{false, true, true}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(tc.need, tc.reqs)
			if got := [3]bool{tr.met(), tr.impossible(), tr.done()}; got != tc.start {
				t.Fatalf("start: met,impossible,done = %v, want %v", got, tc.start)
			}
			for i, s := range tc.steps {
				tr.record(s.success)
				if tr.met() != s.met || tr.impossible() != s.impossible || tr.done() != s.done {
					t.Fatalf("after answer %d (%v): met=%v impossible=%v done=%v; want %v %v %v",
						i, s.success, tr.met(), tr.impossible(), tr.done(), s.met, s.impossible, s.done)
				}
			}
			oks := 0
			for _, s := range tc.steps {
				if s.success {
					oks++
				}
			}
			if tr.ok != oks || tr.failed != len(tc.steps)-oks || tr.pending != tc.reqs-len(tc.steps) {
				t.Errorf("counts ok=%d failed=%d pending=%d", tr.ok, tr.failed, tr.pending)
			}
		})
	}
}
