package main

import (
	"context"
	"fmt"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/bench"
)

// benchFlags are the flags of `quorumkv bench`.
type benchFlags struct {
	driver    string
	endpoints []string
	tls       tlsFlags
	output    string

	workload     string
	distribution string
	records      int64
	valueSize    string
	keyPrefix    string
	seed         uint64

	clients  int
	conns    int
	rate     float64
	duration time.Duration
	ops      int64
	warmup   time.Duration
	interval time.Duration
	timeout  time.Duration

	lockTTL         time.Duration
	starvationLimit time.Duration

	consistency  string
	r, w         replicaCount
	strict       bool
	blindUpdates bool
	freshKeys    bool

	etcdSerializable bool
	redisWait        int
	redisWaitTimeout time.Duration

	hdrDir string
	plot   string
}

var defaultEndpoints = map[string]string{
	"quorumkv": "127.0.0.1:7101",
	"etcd":     "127.0.0.1:2379",
	"redis":    "127.0.0.1:6379",
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark quorumkv (or etcd, or redis) with a YCSB-style workload",
		Long: `Drive a store with a YCSB-style workload and report throughput and HDR
latency percentiles per operation.

Workloads: a (50% read, 50% update), b (95/5), c (read only), d (95% read of
recent keys, 5% insert), f (50% read, 50% read-modify-write: get, then put
with the context read), write (update only) and load (insert keys
0…records-1 in order, then stop; run it first so reads find values).

Register and lock workloads (quorumkv and etcd):
  cas       compare-and-set by version over 10000 keys: a client reads a key
            the first time it picks it (a read), then sets it expecting the
            version it last saw; a stale version is a conflict, and its answer
            gives the current version (quorumkv CompareAndSet, etcd Txn
            comparing mod_revision with an Else Get)
  hot-incr  every client increments one key (quorumkv Increment, etcd Get
            then Txn comparing mod_revision, retried until it applies)
  lock      acquire a lock and release it, --lock-ttl each, names from a key
            space of each client's own, so no two contend (quorumkv locks,
            etcd's concurrency Mutex on one session per client)
They report conflicts, retries, quorumkv's fast-path share and rounds per
operation, and every client's longest wait between completed operations
(a client waiting longer than --starvation-limit counts as starved).

Clients run closed loop (each does operations back to back) unless --rate
sets an open loop: operation i is meant to start at i/rate seconds, and its
latency is measured from then, so a stall shows in the tail instead of
silently slowing the load (no coordinated omission).

quorumkv updates overwrite with the last causal context the run saw for the
key, and read the key first when the run has seen none (as put does), so they
leave no siblings (--fresh-keys: on a key prefix no earlier run used, a key's
first update creates it without the read); --blind-updates writes without a
context instead (each update a new sibling). Every run reports the writes that left siblings and the
reads that saw them. etcd and redis updates are plain puts. Reads of missing
keys are counted as not_found, not as errors.`,
		Example: `  quorumkv bench --workload load --records 100000
  quorumkv bench --workload a --clients 32 --duration 30s --consistency quorum
  quorumkv bench --workload write --w 2 --rate 5000 --duration 20s --plot write.png
  quorumkv bench --driver etcd --endpoints 127.0.0.1:2379 --workload c --etcd-serializable
  quorumkv bench --driver redis --endpoints 127.0.0.1:6379 --workload write --redis-wait 1 -o json
  quorumkv bench --workload cas --clients 32 --duration 10s
  quorumkv bench --driver etcd --endpoints 127.0.0.1:2379 --workload hot-incr --clients 32`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.driver, "driver", "quorumkv", "store to drive: quorumkv, etcd or redis")
	f.tls.register(fl, "", "the quorumkv nodes (turns TLS on)", "the benchmark's clients present")
	fl.StringSliceVar(&f.endpoints, "endpoints", nil, "comma-separated addresses (default per driver: quorumkv 127.0.0.1:7101, etcd 127.0.0.1:2379, redis 127.0.0.1:6379, the primary)")
	outputFlag(cmd, &f.output)

	fl.StringVar(&f.workload, "workload", "a", "workload: "+strings.Join(bench.WorkloadNames(), ", "))
	fl.StringVar(&f.distribution, "distribution", "", "key distribution: uniform, zipfian, latest or sequential (default: the workload's)")
	fl.Int64Var(&f.records, "records", 100_000, "key space: keys 0…records-1 (load inserts them all; default cas and lock 10000, hot-incr 1)")
	fl.StringVar(&f.valueSize, "value-size", "100", "value size in bytes: N or MIN-MAX (uniform)")
	fl.StringVar(&f.keyPrefix, "key-prefix", "bench/", "prefix of every key")
	fl.Uint64Var(&f.seed, "seed", 1, "seed of the key, value and operation streams (each client derives its own)")

	fl.IntVar(&f.clients, "clients", 16, "concurrent clients")
	fl.IntVar(&f.conns, "conns", 1, "driver connections, clients spread over them (quorumkv: connection i prefers endpoint i)")
	fl.Float64Var(&f.rate, "rate", 0, "open loop: operations per second in total (0: closed loop)")
	fl.DurationVar(&f.duration, "duration", 10*time.Second, "measured run time (if not given: no limit with --ops, and for load)")
	fl.Int64Var(&f.ops, "ops", 0, "stop after this many measured operations (0: no limit)")
	fl.DurationVar(&f.warmup, "warmup", 0, "run this long first without recording")
	fl.DurationVar(&f.interval, "interval", time.Second, "progress report interval (0: none)")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "timeout of each operation")
	fl.DurationVar(&f.lockTTL, "lock-ttl", 10*time.Second, "lock workload: time to live of each lock (etcd: whole seconds)")
	fl.DurationVar(&f.starvationLimit, "starvation-limit", bench.DefaultStarvationLimit, "a client that completes no operation for longer is counted as starved")

	fl.StringVar(&f.consistency, "consistency", "quorum", "quorumkv: consistency level: one, two, three, quorum or all")
	fl.Var(&f.r, "r", "quorumkv: replicas that must answer a get, 1 to N (overrides --consistency)")
	fl.Var(&f.w, "w", "quorumkv: replicas that must acknowledge a put, 1 to N (overrides --consistency)")
	fl.BoolVar(&f.strict, "strict", false, "quorumkv: do not count fallback replicas toward the quorum")
	fl.BoolVar(&f.blindUpdates, "blind-updates", false, "quorumkv: updates carry no causal context (each becomes a sibling)")
	fl.BoolVar(&f.freshKeys, "fresh-keys", false, "quorumkv: the key prefix is new, so a key's first update creates it without reading it first")

	fl.BoolVar(&f.etcdSerializable, "etcd-serializable", false, "etcd: serializable reads (local to a member) instead of linearizable")
	fl.IntVar(&f.redisWait, "redis-wait", 0, "redis: follow each write with WAIT N (0: no WAIT)")
	fl.DurationVar(&f.redisWaitTimeout, "redis-wait-timeout", time.Second, "redis: WAIT timeout")

	fl.StringVar(&f.hdrDir, "hdr-dir", "", "write an HdrHistogram interval log per operation into this directory")
	fl.StringVar(&f.plot, "plot", "", "draw throughput and p99 latency over time into this PNG file")
	cmd.AddCommand(newBenchWatchCmd())
	return cmd
}

// config turns the flags into a run's configuration.
func (f *benchFlags) config(cmd *cobra.Command) (bench.Config, error) {
	if err := checkOutput(f.output); err != nil {
		return bench.Config{}, err
	}
	wl, err := bench.LookupWorkload(f.workload)
	if err != nil {
		return bench.Config{}, usageError{err}
	}
	vs, err := bench.ParseValueSize(f.valueSize)
	if err != nil {
		return bench.Config{}, usageError{err}
	}
	duration := f.duration
	if !cmd.Flags().Changed("duration") && (f.ops > 0 || wl.Load) {
		duration = 0
	}
	records := f.records
	if !cmd.Flags().Changed("records") && wl.Records > 0 {
		records = wl.Records
	}
	if (wl.Registers() || wl.Locks()) && f.driver != "quorumkv" && f.driver != "etcd" {
		return bench.Config{}, usagef("workload %s needs the quorumkv or etcd driver", wl.Name)
	}
	if cmd.Flags().Changed("lock-ttl") && f.lockTTL < time.Millisecond {
		return bench.Config{}, usagef("--lock-ttl must be at least 1ms, got %s", f.lockTTL)
	}
	if f.starvationLimit <= 0 {
		return bench.Config{}, usagef("--starvation-limit must be positive, got %s", f.starvationLimit)
	}
	cfg := bench.Config{
		Workload: wl, Distribution: f.distribution, Records: records, KeyPrefix: f.keyPrefix,
		ValueSize: vs, Seed: f.seed, Clients: f.clients, Rate: f.rate, Duration: duration, Ops: f.ops,
		Warmup: f.warmup, Interval: f.interval, Timeout: f.timeout, HDRDir: f.hdrDir,
		LockTTL: f.lockTTL, StarvationLimit: f.starvationLimit,
	}
	if f.conns <= 0 {
		return cfg, usagef("--conns must be positive, got %d", f.conns)
	}
	if f.plot != "" && !strings.HasSuffix(strings.ToLower(f.plot), ".png") {
		return cfg, usagef("--plot %q: want a .png file", f.plot)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, usageError{err}
	}
	return cfg, nil
}

// driverSettings describes the driver for the settings echo.
func (f *benchFlags) driverSettings(wl bench.Workload) (map[string]any, error) {
	switch {
	case wl.Registers() && f.driver == "quorumkv":
		return map[string]any{"registers": "linearizable (CASPaxos)"}, nil
	case wl.Registers() && f.driver == "etcd":
		return map[string]any{"registers": "Txn comparing mod_revision, linearizable reads"}, nil
	case wl.Locks() && f.driver == "quorumkv":
		return map[string]any{"locks": "Acquire, then Lease.Release"}, nil
	case wl.Locks() && f.driver == "etcd":
		return map[string]any{"locks": "concurrency.Mutex Lock/Unlock, one session per client"}, nil
	}
	switch f.driver {
	case "quorumkv":
		if _, ok := levels[strings.ToLower(f.consistency)]; !ok {
			return nil, usagef("unknown consistency level %q (want one, two, three, quorum or all)", f.consistency)
		}
		updates := "overwrite (last context seen for the key)"
		switch {
		case f.blindUpdates:
			updates = "blind (siblings)"
		case f.freshKeys:
			updates = "overwrite (fresh keys: first update creates)"
		}
		return map[string]any{"consistency": strings.ToLower(f.consistency), "r": f.r.n, "w": f.w.n, "strict": f.strict, "updates": updates}, nil
	case "etcd":
		reads := "linearizable"
		if f.etcdSerializable {
			reads = "serializable"
		}
		return map[string]any{"etcd reads": reads}, nil
	case "redis":
		if f.redisWait < 0 {
			return nil, usagef("--redis-wait must not be negative")
		}
		return map[string]any{"redis wait": f.redisWait, "redis wait timeout": f.redisWaitTimeout.String()}, nil
	}
	return nil, usagef("unknown driver %q (want quorumkv, etcd or redis)", f.driver)
}

// connect opens the drivers, one per connection.
func (f *benchFlags) connect() ([]bench.Driver, error) {
	var contexts *bench.ContextCache
	if !f.blindUpdates {
		contexts = bench.NewContextCache(0)
	}
	var drivers []bench.Driver
	for i := range f.conns {
		var d bench.Driver
		var err error
		switch f.driver {
		case "quorumkv":
			// Connection i prefers endpoint i (the client sends everything
			// to its first endpoint while it answers), so several
			// connections spread the coordinating over the nodes.
			eps := append(slices.Clone(f.endpoints[i%len(f.endpoints):]), f.endpoints[:i%len(f.endpoints)]...)
			d, err = bench.NewQuorumkv(bench.QuorumkvOptions{
				Endpoints: eps, Level: levels[strings.ToLower(f.consistency)], R: f.r.n, W: f.w.n,
				Strict: f.strict, AttemptTimeout: min(f.timeout, 5*time.Second), Contexts: contexts,
				FreshKeys: f.freshKeys, TLS: f.tls.files(),
			})
		case "etcd":
			d, err = bench.NewEtcd(bench.EtcdOptions{Endpoints: f.endpoints, Serializable: f.etcdSerializable})
		case "redis":
			d, err = bench.NewRedis(bench.RedisOptions{
				Addr: f.endpoints[0], Wait: f.redisWait, WaitTimeout: f.redisWaitTimeout,
				PoolSize: max(f.clients/f.conns+1, 10),
			})
		}
		if err != nil {
			closeAll(drivers)
			return nil, err
		}
		drivers = append(drivers, d)
	}
	return drivers, nil
}

func closeAll(drivers []bench.Driver) {
	for _, d := range drivers {
		_ = d.Close()
	}
}

// preflight makes one read (for the register and lock workloads, a
// register read too), so an unreachable store fails the command at once
// rather than filling the report with errors.
func preflight(ctx context.Context, d bench.Driver, prefix string, wl bench.Workload) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	key := []byte(prefix + "preflight")
	if _, err := d.Get(ctx, key); err != nil {
		return err
	}
	if rd, ok := d.(bench.RegisterDriver); ok && (wl.Registers() || wl.Locks()) {
		if _, err := rd.ReadVersion(ctx, key); err != nil {
			return err
		}
	}
	return nil
}

func (f *benchFlags) run(cmd *cobra.Command) error {
	cfg, err := f.config(cmd)
	if err != nil {
		return err
	}
	if err := f.tls.files().ValidateClient(); err != nil {
		return tlsUsage(err)
	}
	opts, err := f.driverSettings(cfg.Workload)
	if err != nil {
		return err
	}
	if len(f.endpoints) == 0 {
		f.endpoints = []string{defaultEndpoints[f.driver]}
	}
	settings := cfg.Settings()
	settings.Driver, settings.Endpoints, settings.DriverOptions, settings.Conns = f.driver, f.endpoints, opts, f.conns

	stdout := cmd.OutOrStdout()
	progress := stdout
	if f.output == "json" {
		progress = cmd.ErrOrStderr()
	} else {
		if err := bench.WriteSettings(stdout, settings); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	drivers, err := f.connect()
	if err != nil {
		return err
	}
	defer closeAll(drivers)
	if err := preflight(ctx, drivers[0], f.keyPrefix, cfg.Workload); err != nil {
		return fmt.Errorf("cannot reach %s at %s: %w", f.driver, strings.Join(f.endpoints, ","), err)
	}

	var mu sync.Mutex
	cfg.OnInterval = func(iv bench.Interval) {
		mu.Lock()
		defer mu.Unlock()
		fprintf(progress, "%s\n", bench.FormatInterval(iv))
	}
	cfg.OnStart = func() {
		if cfg.Warmup > 0 {
			fprintf(progress, "warming up for %s\n", cfg.Warmup)
		} else {
			fprintf(progress, "measuring\n")
		}
	}
	cfg.OnEnd = func() { fprintf(progress, "measured; cleaning up\n") }
	rep, runErr := bench.Run(ctx, cfg, drivers)
	if rep == nil {
		return runErr
	}
	rep.Settings = settings
	if f.output == "json" {
		err = rep.WriteJSON(stdout)
	} else {
		fprintf(stdout, "\n")
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if f.plot != "" {
		title := fmt.Sprintf("%s workload %s, %d clients", f.driver, cfg.Workload.Name, cfg.Clients)
		if perr := bench.WritePlot(f.plot, title, bench.NamedReport{Name: f.driver, Report: rep}); perr != nil {
			return perr
		}
	}
	return runErr
}
