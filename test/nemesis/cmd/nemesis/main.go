// Command nemesis runs quorumkv's fault harness: N servers in network
// namespaces, concurrent workloads, a seeded nemesis, and a final check. It
// prints progress on stderr and the JSON summary as the last line of stdout;
// it exits 1 when a write was lost, a value is unexpected, a delete was
// undone, the replicas did not converge, or (--register) a register
// history is not linearizable or porcupine timed out on it, and 2 when the
// run could not be carried out.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/quorumkv/quorumkv/test/nemesis"
)

func main() { os.Exit(run()) }

func run() int {
	var cfg nemesis.Config
	seed := flag.String("seed", "", "seed of the fault schedule and workloads (default: from the clock; printed)")
	flag.DurationVar(&cfg.Duration, "duration", 75*time.Second, "how long workloads and faults run")
	flag.IntVar(&cfg.Nodes, "nodes", 3, "ring members at the start (3 or 5)")
	flag.IntVar(&cfg.Spares, "spares", 0, "server slots out of the ring at the start, for joins (default 1 with --membership)")
	membership := flag.Bool("membership", false, "also draw membership changes: "+strings.Join(nemesis.MembershipFaults, ",")+" (use with --nodes 5)")
	flag.BoolVar(&cfg.ShortGrace, "short-grace", false, "short-grace profile: --tombstone-grace 20s, --hint-window 8s, --anti-entropy-interval 3s on the servers, skews of ±1s/±3s, delete chains that re-create keys after their tombstone was reaped")
	flag.DurationVar(&cfg.TombstoneGrace, "tombstone-grace", 0, "the servers' --tombstone-grace (default: the profile's, else the server default)")
	flag.DurationVar(&cfg.HintWindow, "hint-window", 0, "the servers' --hint-window (default: the profile's, else the server default)")
	flag.DurationVar(&cfg.AntiEntropyInterval, "anti-entropy-interval", 0, "the servers' --anti-entropy-interval (default: 3s with --short-grace, else 20s)")
	flag.DurationVar(&cfg.SettleTimeout, "settle-timeout", 45*time.Second, "longest wait for a membership change (and the ring after the final heal) to settle")
	flag.BoolVar(&cfg.ConcurrentMembership, "concurrent-membership", false, "run the membership changes concurrent with the other faults (one change at a time, never on a node under a fault) instead of in turn with them")
	flag.IntVar(&cfg.MembershipPerCycle, "membership-per-cycle", 0, "membership changes in each cycle of the fault draw (0: every membership kind; every other kind is drawn once a cycle)")
	flag.IntVar(&cfg.MinFaults, "min-faults", 0, "fail the run when fewer faults ran")
	flag.IntVar(&cfg.MinMembershipChanges, "min-membership-changes", 0, "fail the run when fewer membership changes settled")
	flag.IntVar(&cfg.Partitions, "partitions", 1024, "partitions (the servers' --partitions)")
	flag.StringVar(&cfg.Binary, "binary", "", "quorumkv binary built with -tags faultinject (default: go build it so)")
	faults := flag.String("faults", strings.Join(nemesis.DefaultFaults, ","), "fault kinds to draw from: "+strings.Join(nemesis.AllFaults, ",")+" ("+nemesis.FaultMembership+": every membership kind; one kind alone: a run per nemesis kind)")
	extremeSkew := flag.Bool("extreme-skew", false, "also skew clocks by ±25h (beyond the default tombstone grace)")
	flag.DurationVar(&cfg.Interval, "interval", 8*time.Second, "time between fault starts")
	flag.DurationVar(&cfg.HoldMin, "hold-min", 0, "shortest fault (default min(5s, hold-max))")
	flag.DurationVar(&cfg.HoldMax, "hold-max", 0, "longest fault (default min(10s, interval-1.5s))")
	coords := flag.String("coordinators", "", "nodes clients send requests to, e.g. n1,n2 (default all)")
	flag.IntVar(&cfg.UniqueWorkers, "unique-workers", 1, "unique-write workers per coordinator")
	flag.IntVar(&cfg.SetWorkers, "set-workers", 1, "set-add workers per coordinator")
	flag.IntVar(&cfg.DeleteWorkers, "delete-workers", 1, "delete workers per coordinator")
	flag.IntVar(&cfg.RoutedWorkers, "routed-workers", 1, "workers per workload on a client with key routing and failover (the users' client)")
	flag.IntVar(&cfg.MaxKeys, "max-keys", 20000, "bound on the operations of one worker")
	flag.DurationVar(&cfg.Think, "think", 10*time.Millisecond, "mean pause between a worker's operations")
	flag.DurationVar(&cfg.OpTimeout, "op-timeout", 5*time.Second, "deadline of one client request")
	flag.DurationVar(&cfg.ConvergeTimeout, "converge-timeout", 60*time.Second, "replicas must converge this soon after the final heal")
	flag.StringVar(&cfg.TestBug, "test-bug", "", "break the servers on purpose: skip-apply or drop-hints (the run must then fail)")
	serverFlags := flag.String("server-flags", "", "extra server flags, space-separated (they win over the profile's)")
	flag.IntVar(&cfg.SubnetFrom, "subnet", 0, "use the first free 10.77.X.0/24 with X >= this")
	flag.BoolVar(&cfg.RequireAvailability, "require-availability", false, "also fail when < 99% of majority-side requests succeed during single-node faults, or a request to an isolated node hangs")
	flag.BoolVar(&cfg.JudgeUsers, "judge-users", true, "fail when, during "+strings.Join(nemesis.UserFaults, " or ")+" faults, < 99% of the ring-aware client's requests succeed or their p99 exceeds 1s")
	flag.StringVar(&cfg.KeepData, "keep-data", "failure", "keep data dirs and server logs: failure, always or never")
	flag.BoolVar(&cfg.Secure, "secure", false, "TLS on every connection with client certificates required, and encrypted gossip (certificates made for the run)")
	flag.BoolVar(&cfg.Registry, "registry", true, "also run the registry workload (instances registering on leases, renewing, dying) and check that after the heal every live instance is listed and no dead one")
	flag.BoolVar(&cfg.Registers, "register", false, "also run the register workload (SerialGet, CompareAndSet, Increment on keys r-*) and check its history with porcupine")
	flag.IntVar(&cfg.RegisterKeys, "register-keys", 5, "register keys (plus the counter r-counter)")
	flag.IntVar(&cfg.RegisterWorkers, "register-workers", 1, "register workers per key and coordinator (plus --routed-workers per key on the ring-aware client)")
	flag.IntVar(&cfg.RegisterOps, "register-ops", 2000, "most operations per register key, spread over the run (porcupine's cost grows with them)")
	flag.DurationVar(&cfg.CheckTimeout, "check-timeout", 60*time.Second, "porcupine's time limit for the register histories (a time-out fails the run)")
	flag.Float64Var(&cfg.MaxUnknown, "max-unknown", 0.02, "fail when a larger share of register operations had an unknown outcome (0: report only)")
	flag.Parse()

	if *seed == "" {
		cfg.Seed = uint64(time.Now().UnixNano() % 1_000_000_000)
	} else {
		s, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nemesis: bad --seed %q\n", *seed)
			return 2
		}
		cfg.Seed = s
	}
	cfg.Faults = splitList(*faults)
	if *membership {
		for _, k := range nemesis.MembershipFaults {
			if !slices.Contains(cfg.Faults, k) {
				cfg.Faults = append(cfg.Faults, k)
			}
		}
		if cfg.Spares == 0 {
			cfg.Spares = 1
		}
	}
	if cfg.AntiEntropyInterval == 0 && !cfg.ShortGrace {
		cfg.AntiEntropyInterval = 20 * time.Second
	}
	if *extremeSkew {
		cfg.Skews = append(slices.Clone(nemesis.DefaultSkews), nemesis.ExtremeSkews...)
	}
	for _, id := range splitList(*coords) {
		n, err := strconv.Atoi(strings.TrimPrefix(id, "n"))
		if err != nil || n < 1 || n > cfg.Nodes+cfg.Spares {
			fmt.Fprintf(os.Stderr, "nemesis: bad --coordinators entry %q\n", id)
			return 2
		}
		cfg.Coordinators = append(cfg.Coordinators, n-1)
	}
	cfg.ServerFlags = strings.Fields(*serverFlags)
	t0 := time.Now()
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(t0).Seconds(), fmt.Sprintf(format, args...))
	}
	cfg.Logf("nemesis seed %d (replay: the same command with --seed %d)", cfg.Seed, cfg.Seed)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if cfg.Binary == "" {
		dir, err := os.MkdirTemp("", "qkvnem-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		cfg.Logf("building quorumkv")
		if cfg.Binary, err = nemesis.BuildBinary(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
	}
	sum, err := nemesis.Run(ctx, cfg)
	code := 0
	switch {
	case err != nil:
		cfg.Logf("run failed: %v", err)
		code = 2
	case !sum.OK:
		for _, w := range sum.Why {
			cfg.Logf("FAIL: %s", w)
		}
		for _, e := range sum.Examples {
			cfg.Logf("  %s", e)
		}
		code = 1
	default:
		cfg.Logf("PASS: %d ops, %d acknowledged writes, none lost; converged %.1fs after the final heal", sum.Ops, sum.Acknowledged, *sum.ConvergedAfterS)
		if r := sum.Registers; r != nil {
			cfg.Logf("PASS: %d register ops linearizable (porcupine, %.1fs), %.2f%% unknown outcomes", r.Ops, r.CheckS, 100*r.UnknownShare)
		}
	}
	if sum != nil {
		b, _ := json.Marshal(sum)
		fmt.Println(string(b))
	}
	return code
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
