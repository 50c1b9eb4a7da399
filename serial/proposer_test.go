package serial

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/paxos"
)

func incr(id string) paxos.Op { return paxos.Op{Kind: paxos.OpIncrement, By: 1, ID: []byte(id)} }

func TestConfigValidate(t *testing.T) {
	f, v := newFake("a"), &fakeView{}
	for name, tc := range map[string]struct {
		cfg Config
		ok  bool
	}{
		"defaults":       {Config{NodeID: "a", Acceptors: f, View: v}, true},
		"no node":        {Config{Acceptors: f, View: v}, false},
		"no acceptors":   {Config{NodeID: "a", View: v}, false},
		"rho too large":  {Config{NodeID: "a", Acceptors: f, View: v, Rho: 1}, false},
		"value > state":  {Config{NodeID: "a", Acceptors: f, View: v, MaxValue: 10, MaxState: 5}, false},
		"backoff upside": {Config{NodeID: "a", Acceptors: f, View: v, BackoffMin: time.Second, BackoffMax: time.Millisecond}, false},
	} {
		_, err := New(tc.cfg)
		if (err == nil) != tc.ok {
			t.Errorf("%s: New() error %v, want ok=%v", name, err, tc.ok)
		}
	}
}

func TestCompareAndSetAppliesOnceAndFailsConditionDefinitely(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	ctx := context.Background()
	res, err := p.Do(ctx, KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpSet, ExpectAbsent: true, Value: []byte("v1")})
	if err != nil || res.Outcome != paxos.Applied || res.Version != 1 {
		t.Fatalf("first set: %+v, %v", res, err)
	}
	res, err = p.Do(ctx, KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpSet, HasVersion: true, Version: 7, Value: []byte("v2")})
	if err != nil || res.Outcome != paxos.ConditionFailed || string(res.Value) != "v1" || res.Version != 1 {
		t.Fatalf("set at a wrong version: %+v, %v", res, err)
	}
	// The failed condition still ran an accept of the unchanged state.
	for _, n := range threeNodes {
		if rec := f.record(n, KindSerial, "k"); string(rec.State.Value) != "v1" || rec.State.Version != 1 {
			t.Errorf("acceptor %s holds %+v", n, rec.State)
		}
	}
	if _, err := p.Do(ctx, KindSerial, nil, paxos.Op{Kind: paxos.OpGet}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty key: %v, want ErrInvalid", err)
	}
	big := make([]byte, p.Config().MaxValue+1)
	if _, err := p.Do(ctx, KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpSet, Value: big}); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("large value: %v, want ErrValueTooLarge", err)
	}
}

// A steady single-client loop on one key takes the fast path after its
// first round.
func TestFastPathInASteadyLoop(t *testing.T) {
	p, _, _ := newTestProposer(t, nil)
	const n = 200
	var version uint64
	for i := range n {
		res, err := p.Do(context.Background(), KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpSet, HasVersion: true, Version: version, Value: []byte(strconv.Itoa(i))})
		if err != nil || res.Outcome != paxos.Applied {
			t.Fatalf("cas %d: %+v, %v", i, res, err)
		}
		if i > 0 && !res.Receipt.FastPath {
			t.Errorf("cas %d did not take the fast path", i)
		}
		version = res.Version
	}
	st := p.Stats()
	if st.Rounds != n || float64(st.FastRounds) < 0.9*float64(st.Rounds) {
		t.Fatalf("rounds %d, fast %d: want %d rounds, ≥ 90%% fast", st.Rounds, st.FastRounds, n)
	}
}

// Operations that arrive while a round is in flight leave together in the
// next round, in order, at most a window of changes per round.
func TestBatchingQueuesOpsBehindARound(t *testing.T) {
	release := make(chan struct{})
	p, f, _ := newTestProposer(t, func(c *Config) { c.Window = 8 })
	f.set(func() {
		f.hold = func(string, bool) chan struct{} { return release }
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	results := make([]Result, 11)
	errs := make([]error, 11)
	wg.Go(func() { results[0], errs[0] = p.Do(ctx, KindSerial, []byte("hot"), incr("op0")) })
	waitFor(t, "the first round to start", func() bool { pr, _ := f.counts(); return pr > 0 })
	for i := 1; i <= 10; i++ {
		wg.Go(func() { results[i], errs[i] = p.Do(ctx, KindSerial, []byte("hot"), incr("op"+strconv.Itoa(i))) })
	}
	waitFor(t, "ten queued ops", func() bool { return p.queued(KindSerial, "hot") == 10 })
	close(release)
	wg.Wait()
	seen := map[string]bool{}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		seen[string(results[i].Value)] = true
	}
	if len(seen) != 11 || !seen["11"] {
		t.Errorf("values seen %v, want 1…11 each once", seen)
	}
	st := p.Stats()
	if st.Rounds != 3 || st.BatchedOps != 10 {
		t.Errorf("rounds %d, batched ops %d: want 3 rounds (1, 8, 2 ops), 10 ops batched", st.Rounds, st.BatchedOps)
	}
	sizes := map[int]int{}
	for _, r := range results {
		sizes[r.Receipt.Batched]++
	}
	if sizes[1] != 1 || sizes[8] != 8 || sizes[2] != 2 {
		t.Errorf("batch sizes seen by the ops %v: want one alone, eight in a batch of 8, two in a batch of 2", sizes)
	}
}

// A round whose accept reached only one acceptor is retried with a new
// ballot; the retry's prepare finds that accept and adopts it, and the
// operation's id keeps it from applying twice.
func TestRetryAdoptingAPartialAcceptAppliesOnce(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	var mu sync.Mutex
	accepts := map[string]int{}
	f.set(func() {
		f.fault = func(node string, accept bool) error {
			mu.Lock()
			defer mu.Unlock()
			if !accept {
				return nil
			}
			accepts[node]++
			if node != "a" && accepts[node] == 1 {
				return errFakeDown // the first accept reaches a only
			}
			return nil
		}
		f.hold = func(node string, accept bool) chan struct{} {
			if !accept && node == "c" {
				// c answers prepares last, so a's promise (with its
				// partial accept) is always in the retry's quorum.
				ch := make(chan struct{})
				time.AfterFunc(20*time.Millisecond, func() { close(ch) })
				return ch
			}
			return nil
		}
	})
	res, err := p.Do(context.Background(), KindSerial, []byte("n"), incr("once"))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Value) != "1" || !res.Deduplicated || res.Receipt.Rounds != 2 {
		t.Fatalf("result %+v: want value 1, deduplicated, 2 rounds", res)
	}
	for _, n := range threeNodes[:2] {
		if rec := f.record(n, KindSerial, "n"); string(rec.State.Value) != "1" {
			t.Errorf("acceptor %s holds %q", n, rec.State.Value)
		}
	}
	if st := p.Stats(); st.Retries != 1 || st.Unknown != 0 {
		t.Errorf("stats %+v: want one retry, nothing unknown", st)
	}
}

// A retried operation whose partial accept the retry does not see is
// applied by the retry, and the partial accept can never be chosen after
// it: reading through any quorum later shows one increment.
func TestRetryMissingAPartialAcceptStillAppliesOnce(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	var mu sync.Mutex
	round := 0
	f.set(func() {
		f.fault = func(node string, accept bool) error {
			mu.Lock()
			defer mu.Unlock()
			if !accept && node == "a" {
				round++
			}
			switch {
			case round == 1 && accept && node != "a":
				return errFakeDown // the first accept reaches a only
			case round >= 2 && node == "a":
				return errFakeDown // then a is away
			}
			return nil
		}
	})
	if res, err := p.Do(context.Background(), KindSerial, []byte("n"), incr("once")); err != nil || string(res.Value) != "1" {
		t.Fatalf("increment: %+v, %v", res, err)
	}
	// The read's quorum is a (the partial accept) and b (the retry's).
	f.set(func() {
		f.fault = nil
		f.hold = func(node string, _ bool) chan struct{} {
			if node == "c" {
				return make(chan struct{})
			}
			return nil
		}
	})
	p.DropCache()
	res, err := p.Do(context.Background(), KindSerial, []byte("n"), paxos.Op{Kind: paxos.OpGet})
	if err != nil || string(res.Value) != "1" || res.Version != 1 {
		t.Fatalf("read: %+v, %v: want value 1 at version 1", res, err)
	}
}

func TestAcceptorsDownIsDefiniteUnavailable(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	f.set(func() {
		f.fault = func(node string, _ bool) error {
			if node != "a" {
				return errFakeDown
			}
			return nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Do(ctx, KindSerial, []byte("k"), incr("x"))
	var ue *UnavailableError
	if !errors.As(err, &ue) || !Definite(err) || ue.Required != 2 || ue.Acknowledged > 1 {
		t.Fatalf("error %v: want a definite UnavailableError, at most 1 of 2", err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("took %v past a 200ms deadline", took)
	}
	if _, acc := f.counts(); acc != 0 {
		t.Errorf("%d accepts sent, want none", acc)
	}
	if st := p.Stats(); st.Unavailable != 1 || st.Retries == 0 {
		t.Errorf("stats %+v: want 1 unavailable after retries", st)
	}
}

func TestAcceptsLostIsUnknown(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	f.set(func() {
		f.lose = func(node string) bool { return node != "a" }
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := p.Do(ctx, KindSerial, []byte("k"), incr("x"))
	if !errors.Is(err, ErrOutcomeUnknown) || Definite(err) {
		t.Fatalf("error %v: want ErrOutcomeUnknown", err)
	}
	if st := p.Stats(); st.Unknown != 1 {
		t.Errorf("stats %+v: want 1 unknown", st)
	}
}

func TestBallotConflictsUntilTheDeadlineAreContended(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	// Another proposer's promise is always just above ours.
	rival := &rivalFake{fakeAcceptors: f}
	p.cfg.Acceptors = rival
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := p.Do(ctx, KindSerial, []byte("k"), incr("x"))
	if !errors.Is(err, ErrContended) {
		t.Fatalf("error %v: want ErrContended", err)
	}
	if _, acc := f.counts(); acc != 0 {
		t.Errorf("%d accepts sent, want none", acc)
	}
}

// rivalFake refuses every prepare with a ballot just above it.
type rivalFake struct{ *fakeAcceptors }

func (r *rivalFake) Prepare(ctx context.Context, node string, t Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	done(paxos.PrepareReply{Seen: paxos.Ballot{Counter: b.Counter + 1, Node: "rival"}}, nil)
}

// An operation given up by its caller while its prepare is out is never
// sent in an accept: its definite answer stays true.
func TestGivenUpOpIsNeverAccepted(t *testing.T) {
	p, f, _ := newTestProposer(t, func(c *Config) { c.RoundTimeout = 5 * time.Second })
	release := make(chan struct{})
	f.set(func() {
		f.hold = func(_ string, accept bool) chan struct{} {
			if !accept {
				return release
			}
			return nil
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := p.Do(ctx, KindSerial, []byte("k"), incr("x"))
		errc <- err
	}()
	waitFor(t, "the prepare", func() bool { pr, _ := f.counts(); return pr == 3 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !Definite(err) {
		t.Fatalf("error %v: want a definite cancellation", err)
	}
	close(release)
	p.Close()
	if _, acc := f.counts(); acc != 0 {
		t.Errorf("%d accepts sent after the op was given up", acc)
	}
}

func TestStaleEpochMakesTheNodeLearnAndRetry(t *testing.T) {
	p, f, v := newTestProposer(t, nil)
	f.set(func() { f.epoch = 3 })
	res, err := p.Do(context.Background(), KindSerial, []byte("k"), incr("x"))
	if err != nil || res.Receipt.Epoch != 3 {
		t.Fatalf("increment: %+v, %v: want applied at epoch 3", res, err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.learned) == 0 {
		t.Error("the view was never asked to learn")
	}
}

// Promises that hold one ballot with two states are an invariant breach:
// counted.
func TestBreachIsCounted(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	b := paxos.Ballot{Counter: 5, Node: "x"}
	k := queueKey(KindSerial, []byte("k"))
	f.set(func() {
		f.recs["a"][k] = paxos.Record{Promise: b, Accepted: b, State: paxos.State{Exists: true, Value: []byte("1"), Version: 1}}
		f.recs["b"][k] = paxos.Record{Promise: b, Accepted: b, State: paxos.State{Exists: true, Value: []byte("2"), Version: 1}}
		f.hold = func(node string, _ bool) chan struct{} {
			if node == "c" {
				return make(chan struct{}) // never answers: a and b decide
			}
			return nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := p.Do(ctx, KindSerial, []byte("k"), paxos.Op{Kind: paxos.OpGet}); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Breaches == 0 {
		t.Errorf("stats %+v: want a breach counted", st)
	}
}

// Under a joint quorum (a partition moving), a round needs a majority of
// the old acceptors and of the new.
func TestJointQuorumNeedsBothMajorities(t *testing.T) {
	f := newFake("a", "b", "c", "d", "e")
	v := &fakeView{q: paxos.Quorum{Old: []string{"a", "b", "c"}, New: []string{"c", "d", "e"}}, epoch: 1}
	p, err := New(Config{NodeID: "a", Acceptors: f, View: v})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f.set(func() {
		f.fault = func(node string, _ bool) error {
			if node == "d" || node == "e" {
				return errFakeDown
			}
			return nil
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var ue *UnavailableError
	if _, err := p.Do(ctx, KindSerial, []byte("k"), incr("x")); !errors.As(err, &ue) || ue.Required != 4 {
		t.Fatalf("error %v: want unavailable needing 2+2", err)
	}
	f.set(func() {
		f.fault = func(node string, _ bool) error {
			if node == "a" || node == "e" {
				return errFakeDown
			}
			return nil
		}
	})
	if _, err := p.Do(context.Background(), KindSerial, []byte("k"), incr("y")); err != nil {
		t.Fatalf("b, c, d make both majorities: %v", err)
	}
}

func TestCloseAnswersWaitingOps(t *testing.T) {
	p, f, _ := newTestProposer(t, nil)
	f.set(func() {
		f.hold = func(string, bool) chan struct{} { return make(chan struct{}) }
	})
	errc := make(chan error, 1)
	go func() {
		_, err := p.Do(context.Background(), KindSerial, []byte("k"), incr("x"))
		errc <- err
	}()
	waitFor(t, "the prepare", func() bool { pr, _ := f.counts(); return pr == 3 })
	p.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("error %v, want ErrClosed", err)
	}
	if _, err := p.Do(context.Background(), KindSerial, []byte("k"), incr("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v, want ErrClosed", err)
	}
}

func TestBackoffStaysWithinItsBounds(t *testing.T) {
	lo, hi := 10*time.Millisecond, 100*time.Millisecond
	for attempt := 1; attempt < 20; attempt++ {
		for _, r := range []float64{0, 0.5, 0.999} {
			for _, lat := range []time.Duration{0, time.Millisecond, time.Second} {
				d := backoff(lat, lat, attempt, lo, hi, r)
				if d < 0 || d > hi {
					t.Fatalf("backoff(%v, attempt %d, r %v) = %v, outside [0, %v]", lat, attempt, r, d, hi)
				}
			}
		}
	}
	if d := backoff(0, 0, 1, lo, hi, 0.999); d < 9*time.Millisecond {
		t.Errorf("no latency yet: backoff %v, want near the 10ms floor of the ceiling", d)
	}
}

// A round whose accept of a full batch reached one acceptor only is
// retried; every change of the batch is in the register's window, so the
// retry applies each exactly once.
func TestRetryOfAFullBatchAppliesEachOnce(t *testing.T) {
	release := make(chan struct{})
	p, f, _ := newTestProposer(t, nil)
	batchVersion := uint64(1 + p.Config().Window)
	failed := map[string]bool{}
	f.set(func() {
		f.hold = func(string, bool) chan struct{} { return release }
		f.acceptFault = func(node string, st paxos.State) error {
			// The batch's first accept reaches a only (called under f.mu).
			if node != "a" && st.Version == batchVersion && !failed[node] {
				failed[node] = true
				return errFakeDown
			}
			return nil
		}
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = p.Do(ctx, KindSerial, []byte("n"), incr("first")) })
	waitFor(t, "the first round", func() bool { pr, _ := f.counts(); return pr > 0 })
	for i := range p.Config().Window {
		wg.Go(func() {
			if _, err := p.Do(ctx, KindSerial, []byte("n"), incr("b"+strconv.Itoa(i))); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "a full batch queued", func() bool { return p.queued(KindSerial, "n") == p.Config().Window })
	close(release)
	wg.Wait()
	p.DropCache()
	res, err := p.Do(ctx, KindSerial, []byte("n"), paxos.Op{Kind: paxos.OpGet})
	if want := strconv.Itoa(1 + p.Config().Window); err != nil || string(res.Value) != want {
		t.Fatalf("count %q, %v: want %s", res.Value, err, want)
	}
	if st := p.Stats(); st.Retries == 0 {
		t.Errorf("stats %+v: want the batch retried", st)
	}
}

// Reads of registers nobody wrote end at their prepare (no accept, no
// acceptor write), concurrently on many keys, and the change that follows
// each read accepts at the read's promised ballot: one round trip each.
// With AcceptReads every read runs its accept.
func TestReadsOfAbsentRegistersEndAtThePrepare(t *testing.T) {
	for _, acceptReads := range []bool{false, true} {
		p, f, _ := newTestProposer(t, func(c *Config) { c.AcceptReads = acceptReads })
		const keys = 16
		var wg sync.WaitGroup
		errs := make(chan error, keys)
		for i := range keys {
			wg.Go(func() {
				key := []byte("absent-" + strconv.Itoa(i))
				res, err := p.Do(context.Background(), KindSerial, key, paxos.Op{Kind: paxos.OpGet})
				if err != nil || res.Exists || res.Version != 0 {
					errs <- fmt.Errorf("read %s: %+v, %v", key, res, err)
					return
				}
				res, err = p.Do(context.Background(), KindSerial, key, paxos.Op{Kind: paxos.OpSet, ExpectAbsent: true, Value: []byte("v")})
				if err != nil || res.Outcome != paxos.Applied || !res.Receipt.FastPath {
					errs <- fmt.Errorf("set %s after the read: %+v, %v (want applied on the fast path)", key, res, err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		// A round ends on a majority: the third acceptor's message may
		// still be on its way.
		wantAccepts := 3 * keys
		if acceptReads {
			wantAccepts = 6 * keys
		}
		waitFor(t, "every message delivered", func() bool {
			prepares, accepts := f.counts()
			return prepares >= 3*keys && accepts >= wantAccepts
		})
		prepares, accepts := f.counts()
		st := p.Stats()
		if !acceptReads && (st.ReadsAtPrepare != keys || prepares != 3*keys || accepts != wantAccepts) {
			t.Errorf("reads at prepare %d, prepares %d, accepts %d: want %d, %d, %d", st.ReadsAtPrepare, prepares, accepts, keys, 3*keys, wantAccepts)
		}
		if acceptReads && (st.ReadsAtPrepare != 0 || accepts != wantAccepts) {
			t.Errorf("AcceptReads: reads at prepare %d, accepts %d: want 0, %d", st.ReadsAtPrepare, accepts, wantAccepts)
		}
	}
}
