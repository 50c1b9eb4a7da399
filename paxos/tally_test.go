package paxos_test

import (
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

var (
	plain3 = paxos.Quorum{Old: []string{"a", "b", "c"}}
	plain5 = paxos.Quorum{Old: []string{"a", "b", "c", "d", "e"}}
	// joint: moving a→d (b and c stay).
	joint = paxos.Quorum{Old: []string{"a", "b", "c"}, New: []string{"b", "c", "d"}}
	// disjoint: every replica moves.
	disjoint = paxos.Quorum{Old: []string{"a", "b", "c"}, New: []string{"x", "y", "z"}}
)

func bal(c uint64, n string) paxos.Ballot { return paxos.Ballot{Counter: c, Node: n} }

func val(v string, version uint64) paxos.State {
	return paxos.State{Exists: true, Value: []byte(v), Version: version}
}

// answer is one acceptor's answer in a tally script: ok, refused (with
// the ballot seen), or failed (no answer).
type answer struct {
	from     string
	ok       bool
	fail     bool
	seen     paxos.Ballot
	accepted paxos.Ballot
	state    paxos.State
	breach   bool
}

func promised(from string, acc paxos.Ballot, s paxos.State) answer {
	return answer{from: from, ok: true, accepted: acc, state: s}
}
func ok(from string) answer                         { return answer{from: from, ok: true} }
func refused(from string, seen paxos.Ballot) answer { return answer{from: from, seen: seen} }
func failed(from string) answer                     { return answer{from: from, fail: true} }

func TestPrepareTally(t *testing.T) {
	for _, tc := range []struct {
		name      string
		q         paxos.Quorum
		answers   []answer
		decisions []paxos.Decision // after each answer
		current   paxos.State
		cur       paxos.Ballot
		seen      paxos.Ballot
		breach    bool
	}{
		{
			name:      "plain majority of empty promises",
			q:         plain3,
			answers:   []answer{promised("a", bal(0, ""), paxos.State{}), promised("b", bal(0, ""), paxos.State{})},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
		},
		{
			name:      "the highest accepted ballot wins, whatever the order",
			q:         plain5,
			answers:   []answer{promised("a", bal(3, "x"), val("3", 3)), promised("b", bal(7, "y"), val("7", 7)), promised("c", bal(5, "z"), val("5", 5))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Won},
			current:   val("7", 7), cur: bal(7, "y"),
		},
		{
			name:      "an empty promise after an accepted one keeps the accepted one",
			q:         plain3,
			answers:   []answer{promised("a", bal(4, "x"), val("4", 1)), promised("b", bal(0, ""), paxos.State{})},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
			current:   val("4", 1), cur: bal(4, "x"),
		},
		{
			name:      "a second answer from the same acceptor is ignored",
			q:         plain3,
			answers:   []answer{promised("a", bal(0, ""), paxos.State{}), promised("a", bal(9, "x"), val("9", 1)), failed("a")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending},
		},
		{
			name:      "answers from outside the quorum are ignored",
			q:         plain3,
			answers:   []answer{promised("d", bal(9, "x"), val("9", 1)), promised("e", bal(0, ""), paxos.State{}), promised("a", bal(0, ""), paxos.State{})},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending},
		},
		{
			name:      "refusals lose once no majority can form; the highest seen is kept",
			q:         plain3,
			answers:   []answer{refused("a", bal(8, "p")), promised("b", bal(0, ""), paxos.State{}), refused("c", bal(9, "q"))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Lost},
			seen:      bal(9, "q"),
		},
		{
			name:      "failures count against the quorum like refusals",
			q:         plain3,
			answers:   []answer{failed("a"), failed("b")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Lost},
		},
		{
			name:      "same ballot, different states: a breach",
			q:         plain3,
			answers:   []answer{promised("a", bal(4, "x"), val("v1", 1)), promised("b", bal(4, "x"), val("v2", 1))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
			current:   val("v1", 1), cur: bal(4, "x"), breach: true,
		},
		{
			name:      "same ballot, same state: no breach",
			q:         plain3,
			answers:   []answer{promised("a", bal(4, "x"), val("v1", 1)), promised("b", bal(4, "x"), val("v1", 1))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
			current:   val("v1", 1), cur: bal(4, "x"),
		},
		{
			name: "joint: a majority of Old is not enough",
			q:    joint,
			answers: []answer{
				promised("a", bal(0, ""), paxos.State{}), promised("b", bal(0, ""), paxos.State{}),
				promised("d", bal(2, "x"), val("2", 1)),
			},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Won},
			current:   val("2", 1), cur: bal(2, "x"),
		},
		{
			name:      "joint: shared acceptors count for both sides",
			q:         joint,
			answers:   []answer{promised("b", bal(0, ""), paxos.State{}), promised("c", bal(0, ""), paxos.State{})},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
		},
		{
			name:      "joint: losing New's majority loses the round",
			q:         disjoint,
			answers:   []answer{promised("a", bal(0, ""), paxos.State{}), promised("b", bal(0, ""), paxos.State{}), failed("x"), refused("y", bal(3, "r"))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending, paxos.Lost},
			seen:      bal(3, "r"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := paxos.NewPrepareTally(tc.q)
			for i, a := range tc.answers {
				switch {
				case a.fail:
					tl.Fail(a.from)
				default:
					tl.Add(a.from, paxos.PrepareReply{OK: a.ok, Seen: a.seen, Accepted: a.accepted, State: a.state})
				}
				if got := tl.Decision(); got != tc.decisions[i] {
					t.Fatalf("after answer %d (%s): decision %d, want %d", i, a.from, got, tc.decisions[i])
				}
			}
			if tl.Decision() == paxos.Won {
				cur, b := tl.Current()
				if !cur.Equal(tc.current) || b != tc.cur {
					t.Errorf("current %s at %v, want %s at %v", printState(cur), b, printState(tc.current), tc.cur)
				}
			}
			if tl.Seen() != tc.seen {
				t.Errorf("seen %v, want %v", tl.Seen(), tc.seen)
			}
			if tl.Breach() != tc.breach {
				t.Errorf("breach %v, want %v", tl.Breach(), tc.breach)
			}
		})
	}
}

func TestPrepareTallyPromised(t *testing.T) {
	tl := paxos.NewPrepareTally(joint)
	for _, n := range []string{"d", "b", "a"} {
		tl.Add(n, paxos.PrepareReply{OK: true})
	}
	tl.Add("c", paxos.PrepareReply{Seen: bal(1, "z")})
	got := tl.Promised()
	want := []string{"a", "b", "d"} // acceptor order: Old, then New's own
	if len(got) != len(want) {
		t.Fatalf("promised %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("promised %v, want %v", got, want)
		}
	}
}

func TestAcceptTally(t *testing.T) {
	for _, tc := range []struct {
		name      string
		q         paxos.Quorum
		answers   []answer
		decisions []paxos.Decision
		all       bool
		seen      paxos.Ballot
		breach    bool
	}{
		{
			name:      "plain majority",
			q:         plain3,
			answers:   []answer{ok("a"), ok("c")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won},
		},
		{
			name:      "every acceptor",
			q:         plain3,
			answers:   []answer{ok("a"), ok("b"), ok("c")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Won, paxos.Won},
			all:       true,
		},
		{
			name:      "duplicates and strangers do not count",
			q:         plain3,
			answers:   []answer{ok("a"), ok("a"), ok("z")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending},
		},
		{
			name:      "an ok is not undone by a later failure of the same acceptor",
			q:         plain3,
			answers:   []answer{ok("a"), failed("a"), ok("b")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Won},
		},
		{
			name:      "a majority of refusals loses (the outcome stays unknown to the caller)",
			q:         plain5,
			answers:   []answer{ok("a"), refused("b", bal(4, "x")), failed("c"), refused("d", bal(6, "y"))},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending, paxos.Lost},
			seen:      bal(6, "y"),
		},
		{
			name:      "a breach is reported and counts as a refusal",
			q:         plain3,
			answers:   []answer{{from: "a", seen: bal(4, "x"), breach: true}, ok("b"), ok("c")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Won},
			seen:      bal(4, "x"), breach: true,
		},
		{
			name:      "joint: Old's majority alone is pending",
			q:         disjoint,
			answers:   []answer{ok("a"), ok("b"), ok("c"), ok("x"), ok("y")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Pending, paxos.Pending, paxos.Won},
		},
		{
			name:      "joint: every acceptor of both sets",
			q:         joint,
			answers:   []answer{ok("a"), ok("b"), ok("c"), ok("d")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Won, paxos.Won},
			all:       true,
		},
		{
			name:      "joint: New lost",
			q:         joint,
			answers:   []answer{ok("a"), failed("c"), failed("d")},
			decisions: []paxos.Decision{paxos.Pending, paxos.Pending, paxos.Lost},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tl := paxos.NewAcceptTally(tc.q)
			for i, a := range tc.answers {
				switch {
				case a.fail:
					tl.Fail(a.from)
				default:
					tl.Add(a.from, paxos.AcceptReply{OK: a.ok, Seen: a.seen, Breach: a.breach})
				}
				if got := tl.Decision(); got != tc.decisions[i] {
					t.Fatalf("after answer %d (%s): decision %d, want %d", i, a.from, got, tc.decisions[i])
				}
			}
			if tl.All() != tc.all {
				t.Errorf("all %v, want %v", tl.All(), tc.all)
			}
			if tl.Seen() != tc.seen {
				t.Errorf("seen %v, want %v", tl.Seen(), tc.seen)
			}
			if tl.Breach() != tc.breach {
				t.Errorf("breach %v, want %v", tl.Breach(), tc.breach)
			}
		})
	}
}
