package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// Phases of TestProcessPausedNodeDoesNotStall.
const (
	pauseBefore  = 5 * time.Second
	pauseHold    = 10 * time.Second
	pauseAfter   = 3 * time.Second
	pauseClients = 16
	pauseKeys    = 32 // per client: each client updates only its own keys
	pauseOpMax   = 200_000
)

// pauseOp is one operation of the paused-node workload.
type pauseOp struct {
	start, end time.Duration // since the workload began
	get        bool
	err        error
}

// TestProcessPausedNodeDoesNotStall: 16 clients run a 50/50 get/update mix
// (gets at QUORUM) through the Go client on 3 nodes; one node is SIGSTOPped
// for 10 s. The client routes new requests around the frozen node and hedges
// its gets, and coordinators stop asking the quiet replica, so ≥ 99 % of
// operations succeed, the throughput during the pause is at least half of
// the throughput before it (median of per-second counts), and the p99
// latency of the operations started during the pause is at most 1 s.
func TestProcessPausedNodeDoesNotStall(t *testing.T) {
	runPausedNode(t, client.Quorum)
}

func runPausedNode(t *testing.T, readLevel client.Level) {
	if testing.Short() {
		t.Skip("process test")
	}
	pc := startProcCluster(t, 3)
	cl := pc.client(0, 1, 2)
	keys := make([][]string, pauseClients)
	for w := range keys {
		for k := range pauseKeys {
			keys[w] = append(keys[w], fmt.Sprintf("pause-%d-%d", w, k))
		}
	}

	frozen := pc.procs[1]
	var thawOnce sync.Once
	thaw := func() {
		thawOnce.Do(func() {
			if frozen.cmd != nil {
				_ = frozen.cmd.Process.Signal(syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw) // runs before the cluster is killed, whatever happens

	begin := time.Now()
	pauseAt, contAt, endAt := pauseBefore, pauseBefore+pauseHold, pauseBefore+pauseHold+pauseAfter
	ops := make([][]pauseOp, pauseClients)
	var wg sync.WaitGroup
	for w := range pauseClients {
		wg.Go(func() { ops[w] = pauseWorker(cl, readLevel, keys[w], begin, endAt, uint64(w)) })
	}
	time.Sleep(time.Until(begin.Add(pauseAt)))
	if err := frozen.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(begin.Add(contAt)))
	thaw()
	wg.Wait()

	var all []pauseOp
	for _, o := range ops {
		all = append(all, o...)
	}
	r := pauseReport(all, pauseAt, contAt)
	t.Logf("%s SIGSTOPped from %v to %v: %s", frozen.id, pauseAt, contAt, r)
	if r.okRatio < 0.99 {
		t.Errorf("%.2f%% of operations succeeded, want >= 99%%", 100*r.okRatio)
	}
	if r.pauseMedian < r.beforeMedian/2 {
		t.Errorf("median throughput during the pause %d ops/s, before %d: want >= 50%%", r.pauseMedian, r.beforeMedian)
	}
	if r.pauseP99 > time.Second {
		t.Errorf("p99 latency of operations started during the pause %v, want <= 1s", r.pauseP99)
	}
}

// pauseWorker runs the mix on its own keys until end, remembering each
// key's context so an update replaces what it last saw.
func pauseWorker(cl *client.Client, readLevel client.Level, keys []string, begin time.Time, end time.Duration, seed uint64) []pauseOp {
	rng := rand.New(rand.NewPCG(seed, 42))
	contexts := make(map[string]string, len(keys))
	var out []pauseOp
	for i := 0; i < pauseOpMax && time.Since(begin) < end; i++ {
		k := keys[rng.IntN(len(keys))]
		op := pauseOp{start: time.Since(begin), get: rng.IntN(2) == 0}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if op.get {
			res, err := cl.Get(ctx, []byte(k), client.WithLevel(readLevel))
			if errors.Is(err, client.ErrNotFound) {
				err = nil
			}
			if err == nil {
				contexts[k] = res.Context
			}
			op.err = err
		} else {
			res, err := cl.Put(ctx, []byte(k), fmt.Appendf(nil, "v%d", i), client.WithContext(contexts[k]))
			if err == nil {
				contexts[k] = res.Context
			}
			op.err = err
		}
		cancel()
		op.end = time.Since(begin)
		out = append(out, op)
	}
	return out
}

type pauseFigures struct {
	ops, failed               int
	okRatio                   float64
	beforeMedian, pauseMedian int
	pauseP99, pauseMax        time.Duration
	getP99, putP99            time.Duration // during the pause, by kind
	perSecond                 []int
	errs                      map[string]int
}

func (f pauseFigures) String() string {
	return fmt.Sprintf("%d ops, %d failed (%.3f%% ok); median ops/s before %d, during the pause %d (%.0f%%); "+
		"p99 of ops started during the pause %v (max %v; gets %v, puts %v); ops/s by second %v; errors %v",
		f.ops, f.failed, 100*f.okRatio, f.beforeMedian, f.pauseMedian,
		100*float64(f.pauseMedian)/float64(max(f.beforeMedian, 1)), f.pauseP99, f.pauseMax, f.getP99, f.putP99,
		f.perSecond, f.errs)
}

// pauseReport computes the acceptance figures: the share of operations
// that succeeded, the median per-second count of completed operations
// before the pause (its first second left out as warm-up) and during it,
// and the latencies of the operations started during the pause.
func pauseReport(ops []pauseOp, pauseAt, contAt time.Duration) pauseFigures {
	f := pauseFigures{ops: len(ops), errs: map[string]int{}}
	var last time.Duration
	for _, o := range ops {
		last = max(last, o.end)
	}
	f.perSecond = make([]int, int(last/time.Second)+1)
	var pauseLat, getLat, putLat []time.Duration
	for _, o := range ops {
		if o.err != nil {
			f.failed++
			f.errs[fmt.Sprintf("get=%v: %v", o.get, o.err)]++
		}
		f.perSecond[int(o.end/time.Second)]++
		if o.start >= pauseAt && o.start < contAt {
			pauseLat = append(pauseLat, o.end-o.start)
			if o.get {
				getLat = append(getLat, o.end-o.start)
			} else {
				putLat = append(putLat, o.end-o.start)
			}
		}
	}
	f.okRatio = float64(f.ops-f.failed) / float64(max(f.ops, 1))
	f.beforeMedian = median(f.perSecond[1:int(pauseAt/time.Second)])
	f.pauseMedian = median(f.perSecond[int(pauseAt/time.Second):int(contAt/time.Second)])
	f.pauseP99, f.pauseMax = p99(pauseLat), slices.Max(append(pauseLat, 0))
	f.getP99, f.putP99 = p99(getLat), p99(putLat)
	if len(f.errs) > 5 { // keep the log readable: the most frequent are enough
		type kv struct {
			k string
			n int
		}
		var top []kv
		for k, n := range f.errs {
			top = append(top, kv{k, n})
		}
		slices.SortFunc(top, func(a, b kv) int { return b.n - a.n })
		f.errs = map[string]int{}
		for _, e := range top[:5] {
			f.errs[e.k] = e.n
		}
	}
	return f
}

// p99 is the 99th percentile of ds (zero for none); it sorts ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[(len(ds)*99+99)/100-1]
}

func median(xs []int) int {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
