package nemesis

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/quorumkv/quorumkv/client"
)

// fakeRegisters is an in-memory register service for the workload's
// tests: correct (linearizable) unless told to forget acknowledged
// changes, with latency, definite failures and unknown outcomes (an
// unknown change applies never, at once, or a little after the answer).
type fakeRegisters struct {
	unknown, unavailable float64
	forget               int // acknowledged changes to forget (a bug the checker must catch)

	mu      sync.Mutex
	rng     *rand.Rand
	state   map[string]regState
	changes int
	late    sync.WaitGroup
}

func newFakeRegisters(seed uint64) *fakeRegisters {
	return &fakeRegisters{rng: rand.New(rand.NewPCG(seed, 1)), state: map[string]regState{}}
}

func (f *fakeRegisters) draw() (float64, int, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rng.Float64(), f.rng.IntN(3), time.Duration(f.rng.IntN(1000)) * time.Microsecond
}

func (f *fakeRegisters) apply(in regInput, ack bool) *client.SerialResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state[in.Key]
	n, out := simApply(s, in)
	if out.Applied {
		f.changes++
		if ack && f.forget > 0 && f.changes > 20 && f.changes%7 == 0 {
			f.forget--
			n = s
		}
	}
	f.state[in.Key] = n
	return &client.SerialResult{Key: []byte(in.Key), Found: out.Found, Value: []byte(out.Value), Version: out.Version, Applied: out.Applied, Proposer: "fake"}
}

func (f *fakeRegisters) exec(ctx context.Context, in regInput) (*client.SerialResult, error) {
	roll, mode, lat := f.draw()
	time.Sleep(lat) // latency before the operation takes effect
	switch {
	case roll < f.unavailable:
		return nil, &client.UnavailableError{Op: "write", Message: "fake: unavailable"}
	case roll < f.unavailable+f.unknown:
		switch mode {
		case 1:
			f.apply(in, false)
		case 2:
			f.late.Go(func() {
				time.Sleep(5 * lat) // a delayed accept taking effect after the answer
				f.apply(in, false)
			})
		}
		if in.Op == regGet {
			return nil, fmt.Errorf("fake: %w", context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("fake: %w", client.ErrOutcomeUnknown)
	}
	res := f.apply(in, true)
	time.Sleep(lat) // latency of the answer
	if in.Op != regGet && !res.Applied {
		return res, client.ErrConditionFailed
	}
	return res, nil
}

// runFakeWorkload runs the register workload against f (three "pinned"
// workers and one "routed" per key) until every key has had its
// operations, then the final reads.
func runFakeWorkload(t *testing.T, f *fakeRegisters, keys, perKey int) (*registers, int) {
	t.Helper()
	rw := newRegisters(keys, perKey, 4, 200*time.Millisecond, 0, 7, time.Now())
	send := func(ctx context.Context, op, key string, fn func(ctx context.Context, exec regExec) (string, error)) error {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := fn(cctx, f.exec)
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, key := range rw.keys {
		for i, where := range []string{"n1", "n2", "n3", "routed"} {
			wg.Go(func() { rw.run(ctx, key, i, where, send) })
		}
	}
	wg.Wait()
	f.late.Wait()
	if ctx.Err() != nil {
		t.Fatal("the workers did not finish their operations in 30s")
	}
	return rw, rw.finalReads(ctx, f.exec, time.Second, 3)
}

// The workload against a correct register service: every key is
// linearizable, unknown outcomes included.
func TestRegisterWorkloadCorrectService(t *testing.T) {
	f := newFakeRegisters(1)
	f.unknown, f.unavailable = 0.05, 0.03
	rw, final := runFakeWorkload(t, f, 3, 150)
	rep := checkRegisters(rw.records(), rw.keys, final, Config{CheckTimeout: 60 * time.Second}, t.TempDir(), t.Logf)
	if final != len(rw.keys) {
		t.Fatalf("%d final reads answered, want %d", final, len(rw.keys))
	}
	if rep.Ops != len(rw.keys)*150+final {
		t.Fatalf("%d ops, want %d", rep.Ops, len(rw.keys)*150+final)
	}
	for _, k := range rw.keys {
		if rep.Verdicts[k] != verdictOK {
			t.Errorf("%s: %s, want ok", k, rep.Verdicts[k])
		}
	}
	if rep.Unknown == 0 || rep.ByKind[regIncr] == nil || rep.ByKind[regCAS].ConditionFailed == 0 || rep.ByKind[regCAS].Applied == 0 || rep.ByKind[regPut] == nil {
		t.Errorf("the workload did not exercise every outcome: %+v", rep.ByKind)
	}
	if why := rep.why(); len(why) != 0 {
		t.Errorf("why %q", why)
	}
}

// The workload against a service that forgets acknowledged changes: the
// checker says so and draws it.
func TestRegisterWorkloadCatchesLostWrites(t *testing.T) {
	f := newFakeRegisters(2)
	f.unknown, f.forget = 0.02, 6
	rw, final := runFakeWorkload(t, f, 3, 150)
	dir := t.TempDir()
	rep := checkRegisters(rw.records(), rw.keys, final, Config{CheckTimeout: 60 * time.Second}, dir, t.Logf)
	illegal := 0
	for _, k := range rw.keys {
		if rep.Verdicts[k] == verdictIllegal {
			illegal++
		}
	}
	if illegal == 0 || len(rep.Visualized) != illegal {
		t.Fatalf("verdicts %v, visualizations %v: want the lost writes caught and drawn", rep.Verdicts, rep.Visualized)
	}
	for _, file := range rep.Visualized {
		if _, err := os.Stat(file); err != nil {
			t.Fatal(err)
		}
	}
	if len(rep.why()) < illegal {
		t.Fatalf("why %q", rep.why())
	}
}

// Simulated histories of the size a long run makes (up to 2000 operations
// per key, unknown outcomes applied late) are checked within a few seconds;
// lost acknowledged writes are caught.
func TestRegisterCheckerSimulatedHistories(t *testing.T) {
	for _, c := range []struct {
		sim  simConfig
		want porcupine.CheckResult
	}{
		{simConfig{seed: 1, keys: []string{"r-0", "r-1"}, counter: "r-counter", clients: 7, opsPerKey: 2000, unknown: 0.03, putShare: 0.1, lateApply: true}, porcupine.Ok},
		{simConfig{seed: 2, keys: []string{"r-0"}, counter: "r-counter", clients: 12, opsPerKey: 1000, unknown: 0.10, putShare: 0.1, lateApply: true}, porcupine.Ok},
		{simConfig{seed: 3, keys: []string{"r-0"}, clients: 7, opsPerKey: 1000, unknown: 0.02, putShare: 0.1, lateApply: true, lostWrites: 1}, porcupine.Illegal},
		{simConfig{seed: 4, counter: "r-counter", clients: 7, opsPerKey: 1000, unknown: 0.02, lateApply: true, lostWrites: 1}, porcupine.Illegal},
	} {
		recs := simulate(c.sim)
		t0 := time.Now()
		if res := simCheck(recs, 60*time.Second); res != c.want {
			t.Errorf("%+v: %v, want %v", c.sim, res, c.want)
		}
		t.Logf("%d operations checked in %v", len(recs), time.Since(t0))
	}
}
