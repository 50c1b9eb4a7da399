package paxos_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

// TestLockTokensOnlyIncrease drives one lock register with random lock
// changes (right and wrong tokens, stale and current takeovers, retries
// of the same operation) and checks: every grant's token is above every
// token granted before; the register's token never goes down; a change
// that applies counts one version; a refused one changes nothing.
func TestLockTokensOnlyIncrease(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var s paxos.State
	var granted uint64
	for i := range 20_000 {
		l := s.Lock
		tok := l.Token
		if rng.IntN(3) == 0 {
			tok = rng.Uint64N(l.Token + 2)
		}
		id := []byte(fmt.Sprintf("op%d", rng.IntN(i+1)))
		op := paxos.Op{ID: id, Holder: fmt.Sprintf("h%d", rng.IntN(3)), TTLms: 100, Token: tok}
		switch rng.IntN(4) {
		case 0:
			op.Kind = paxos.OpAcquire
		case 1:
			op.Kind = paxos.OpTakeover
			op.Renewals = l.Renewals
			if rng.IntN(2) == 0 {
				op.Renewals = rng.Uint64N(l.Renewals + 2)
			}
		case 2:
			op.Kind = paxos.OpRenew
		default:
			op.Kind = paxos.OpRelease
		}
		next, res := paxos.Apply(s, op, paxos.DefaultWindow)
		if next.Lock.Token < s.Lock.Token {
			t.Fatalf("step %d: token went down %d -> %d", i, s.Lock.Token, next.Lock.Token)
		}
		changed := !next.Equal(s)
		if changed && (res.Outcome != paxos.Applied || res.Deduplicated || next.Version != s.Version+1) {
			t.Fatalf("step %d: %s (dedup %v) changed the state, version %d -> %d", i, outcomeNames[res.Outcome], res.Deduplicated, s.Version, next.Version)
		}
		if next.Lock.Held && next.Lock.Token != s.Lock.Token {
			if next.Lock.Token <= granted || next.Lock.Token != s.Lock.Token+1 {
				t.Fatalf("step %d: grant token %d after %d granted", i, next.Lock.Token, granted)
			}
			granted = next.Lock.Token
		}
		s = next
	}
	if granted < 100 {
		t.Fatalf("only %d grants: the walk does not exercise the lock", granted)
	}
}

func TestUnknownOpChangesNothing(t *testing.T) {
	s := val("x", 3)
	next, res := paxos.Apply(s, paxos.Op{Kind: 0, ID: []byte("z")}, 8)
	if !next.Equal(s) || res.Outcome != paxos.ConditionFailed {
		t.Fatalf("unknown op: %s %s", printState(next), printResult(res))
	}
}
