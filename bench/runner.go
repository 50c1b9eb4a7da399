package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Config is one run.
type Config struct {
	Workload Workload
	// Distribution of reads' and updates' keys ("": the workload's).
	Distribution string
	// Records is the key space: keys 0…Records-1 (inserts add keys after it).
	Records   int64
	KeyPrefix string
	ValueSize ValueSize
	// Seed makes every client's key, value and operation stream
	// reproducible (client i draws from its own source seeded by Seed and i).
	Seed uint64
	// Clients is the number of concurrent clients (goroutines).
	Clients int
	// Rate > 0 runs open loop at Rate operations per second in total;
	// 0 runs closed loop.
	Rate float64
	// Duration and Ops bound the measured part of the run (after Warmup);
	// whichever comes first ends it. A load ends when every key is inserted.
	Duration time.Duration
	Ops      int64
	// Warmup runs the workload for this long first, recording nothing.
	Warmup time.Duration
	// Interval between progress reports (0: none, one interval for the run).
	Interval time.Duration
	// Timeout bounds each operation (default 10s).
	Timeout time.Duration
	// LockTTL is the time to live of every lock the lock workload takes,
	// and of every lease the keepalive workload grants (default 10s).
	LockTTL time.Duration
	// StarvationLimit is the longest a client may go without completing an
	// operation before the report counts it as starved (default 2s).
	StarvationLimit time.Duration
	// HDRDir, when set, receives an HdrHistogram log per operation.
	HDRDir string
	// OnInterval is called after every interval (from the collector's
	// goroutine).
	OnInterval func(Interval)
	// OnStart is called when the clock starts (the warm-up begins), after
	// the run's own set-up (leases granted); OnEnd when the last operation
	// ended, before the run's clean-up (leases revoked).
	OnStart, OnEnd func()
	// Clock defaults to the wall clock.
	Clock Clock
}

// Validate checks the configuration and fills in its defaults.
func (c *Config) Validate() error {
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Distribution == "" {
		c.Distribution = c.Workload.Distribution
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.LockTTL == 0 {
		c.LockTTL = 10 * time.Second
	}
	if c.StarvationLimit == 0 {
		c.StarvationLimit = DefaultStarvationLimit
	}
	switch {
	case c.Workload.Name == "" || c.Workload.Mix == [numOps]float64{}:
		return errors.New("bench: no workload")
	case c.Records <= 0:
		return fmt.Errorf("bench: records must be positive, got %d", c.Records)
	case c.Clients <= 0:
		return fmt.Errorf("bench: clients must be positive, got %d", c.Clients)
	case c.Rate < 0:
		return fmt.Errorf("bench: rate must not be negative, got %g", c.Rate)
	case c.Duration < 0 || c.Warmup < 0 || c.Interval < 0 || c.Ops < 0:
		return errors.New("bench: duration, warmup, interval and ops must not be negative")
	case c.Duration == 0 && c.Ops == 0 && !c.Workload.Load:
		return errors.New("bench: give a duration or a number of operations")
	case c.ValueSize.Max < c.ValueSize.Min || c.ValueSize.Min < 0:
		return fmt.Errorf("bench: bad value size %s", c.ValueSize)
	case c.LockTTL < time.Millisecond:
		return fmt.Errorf("bench: lock ttl must be at least 1ms, got %s", c.LockTTL)
	case c.StarvationLimit < 0:
		return fmt.Errorf("bench: starvation limit must not be negative, got %s", c.StarvationLimit)
	}
	_, err := newKeyChooser(c.Distribution, newKeySpace(1, 1))
	return err
}

// Settings are the run's settings as reported (driver fields left empty).
func (c Config) Settings() Settings {
	mix := map[string]float64{}
	for _, op := range Ops() {
		if p := c.Workload.Mix[op]; p > 0 {
			mix[op.String()] = p
		}
	}
	dist := c.Distribution
	if dist == "" {
		dist = c.Workload.Distribution
	}
	mode := "closed"
	if c.Rate > 0 {
		mode = "open"
	}
	s := Settings{
		Workload: c.Workload.Name, Mix: mix, Distribution: dist, Records: c.Records,
		KeyPrefix: c.KeyPrefix, ValueSize: c.ValueSize.String(), Seed: c.Seed,
		Clients: c.Clients, Mode: mode, Rate: c.Rate, Duration: c.Duration.String(), Ops: c.Ops,
		Warmup: c.Warmup.String(), Interval: c.Interval.String(), Timeout: c.Timeout.String(),
	}
	if c.Workload.Locks() || c.Workload.Leases() {
		ttl := c.LockTTL
		if ttl == 0 {
			ttl = 10 * time.Second
		}
		s.LockTTL = ttl.String()
	}
	return s
}

// run is the state of one Run.
type run struct {
	cfg     Config
	drivers []Driver
	ks      *keySpace
	sched   Schedule
	open    bool
	// measureStart ends the warmup; deadline (zero: none) ends the run.
	measureStart, deadline time.Time
	seq                    atomic.Int64 // open loop: next operation of the schedule
	measured               atomic.Int64 // operations counted against Ops
	startedMeasured        atomic.Int64 // open loop: measured operations started
	warmupOps              atomic.Int64 // operations finished during the warmup
	siblingWrites          atomic.Int64 // puts that left more than one value
	siblingReads           atomic.Int64 // gets that returned more than one value
	stop                   atomic.Bool
}

// Run drives the drivers with cfg's workload: client i uses
// drivers[i%len(drivers)]. It returns the report when the run ends (or ctx
// is cancelled: then the report covers what ran and says it was
// interrupted). Run does not close the drivers.
func Run(ctx context.Context, cfg Config, drivers []Driver) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(drivers) == 0 {
		return nil, errors.New("bench: no driver")
	}
	if err := checkDrivers(cfg.Workload, drivers); err != nil {
		return nil, err
	}
	loaded := cfg.Records
	if cfg.Workload.Load {
		loaded = 0
	}
	// Lock sessions open before the clock starts, so opening them takes
	// nothing from the run.
	lockers, err := openLockers(ctx, cfg, drivers)
	if err != nil {
		return nil, err
	}
	defer func() { _ = closeLockers(lockers) }()
	if err := grantLeases(ctx, cfg, drivers); err != nil {
		return nil, err
	}
	defer func() { _ = revokeLeases(context.WithoutCancel(ctx), cfg, drivers) }()
	if cfg.OnStart != nil {
		cfg.OnStart()
	}
	clock := cfg.Clock
	start := clock.Now()
	r := &run{cfg: cfg, drivers: drivers, ks: newKeySpace(cfg.Records, loaded), open: cfg.Rate > 0}
	r.sched = Schedule{Start: start, Rate: cfg.Rate}
	r.measureStart = start.Add(cfg.Warmup)
	if cfg.Duration > 0 {
		r.deadline = r.measureStart.Add(cfg.Duration)
	}

	recs := make([]*recorder, cfg.Clients)
	workers := make([]*worker, cfg.Clients)
	for i := range workers {
		recs[i] = &recorder{}
		w, err := r.newWorker(i, recs[i])
		if err != nil {
			return nil, err
		}
		if lockers != nil {
			w.locker = lockers[i]
		}
		workers[i] = w
	}
	col := &collector{recs: recs, measureStart: r.measureStart, last: r.measureStart, interval: cfg.Interval, onInterval: cfg.OnInterval}
	if cfg.HDRDir != "" {
		logs, err := newHDRLogs(cfg.HDRDir, r.measureStart)
		if err != nil {
			return nil, err
		}
		col.hdr = logs
	}

	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(ctx) })
	}
	done := make(chan struct{})
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		if cfg.Interval > 0 {
			col.periodic(clock, cfg.Interval, done)
		}
	}()
	wg.Wait()
	if cfg.OnEnd != nil {
		cfg.OnEnd()
	}
	close(done)
	<-collected
	end := clock.Now()
	col.tick(end, true)

	rep := col.report(end)
	rep.Settings = cfg.Settings()
	rep.Started = start
	rep.Interrupted = ctx.Err() != nil
	rep.WarmupOps = r.warmupOps.Load()
	rep.Siblings = Siblings{Writes: r.siblingWrites.Load(), Reads: r.siblingReads.Load()}
	gaps := make([]time.Duration, len(workers))
	for i, w := range workers {
		gaps[i] = w.maxGap
	}
	rep.Starvation = newStarvation(gaps, cfg.StarvationLimit)
	if r.open && cfg.Ops == 0 && !r.deadline.IsZero() {
		scheduled := r.sched.Before(r.deadline) - r.sched.Before(r.measureStart)
		rep.Unsent = max(scheduled-r.startedMeasured.Load(), 0)
	}
	if col.hdr != nil {
		if err := errors.Join(col.hdrErr, col.hdr.close()); err != nil {
			return rep, fmt.Errorf("bench: hdr log: %w", err)
		}
	}
	return rep, nil
}

// worker is one client.
type worker struct {
	r     *run
	id    int
	drv   Driver
	rng   *rand.Rand
	ops   opChooser
	keys  KeyChooser
	vals  *valueGen
	rec   *recorder
	clock Clock
	// versions holds the register version this worker last saw for each
	// key number (cas).
	versions map[int64]uint64
	// locker is the worker's locking session (lock).
	locker Locker
	// gaps tracks the waits between completed operations; maxGap is the
	// longest, once the worker has stopped.
	gaps   gapTracker
	maxGap time.Duration
}

func (r *run) newWorker(i int, rec *recorder) (*worker, error) {
	keys, err := newKeyChooser(r.cfg.Distribution, r.ks)
	if err != nil {
		return nil, err
	}
	id := uint64(i) + 1
	w := &worker{
		r: r, id: i, drv: r.drivers[i%len(r.drivers)], rec: rec, clock: r.cfg.Clock,
		rng:  rand.New(rand.NewPCG(r.cfg.Seed, id)),
		ops:  newOpChooser(r.cfg.Workload),
		keys: keys,
		vals: newValueGen(r.cfg.ValueSize, rand.New(rand.NewPCG(r.cfg.Seed, id<<32|0x76616c))),
		gaps: newGapTracker(r.measureStart),
	}
	if r.cfg.Workload.Mix[OpCAS] > 0 {
		w.versions = make(map[int64]uint64)
	}
	return w, nil
}

func (w *worker) loop(ctx context.Context) {
	defer func() { w.maxGap = w.gaps.finish(w.clock.Now()) }()
	r := w.r
	for ctx.Err() == nil && !r.stop.Load() {
		var intended time.Time
		if r.open {
			intended = r.sched.At(r.seq.Add(1) - 1)
		} else {
			intended = w.clock.Now()
		}
		if !r.deadline.IsZero() && !intended.Before(r.deadline) {
			return
		}
		measured := !intended.Before(r.measureStart)
		if measured && r.cfg.Ops > 0 && r.measured.Add(1) > r.cfg.Ops {
			r.stop.Store(true)
			return
		}
		if r.open {
			if w.clock.SleepUntil(ctx, intended) != nil {
				return
			}
			if !r.deadline.IsZero() && !w.clock.Now().Before(r.deadline) {
				return // behind schedule at the end: counted as unsent
			}
			if measured {
				r.startedMeasured.Add(1)
			}
		}
		op := w.ops.next(w.rng)
		insertKey := int64(-1)
		if op == OpInsert {
			insertKey = r.ks.nextInsert()
			if r.cfg.Workload.Load && insertKey >= r.cfg.Records {
				r.stop.Store(true)
				return
			}
		}
		run := &opRun{w: w, runCtx: ctx, from: intended, measured: measured}
		out, err := w.do(ctx, run, op, insertKey)
		if !errors.Is(err, errStepFailed) { // else recorded as the step that failed
			run.step(op, out, err)
		}
		if ctx.Err() != nil {
			return // interrupted: the operation's outcome says nothing
		}
		if !measured {
			r.warmupOps.Add(1)
		}
	}
}

// opRun is one operation in progress, recorded step by step: most
// operations are one step; a cas of a key the worker has not seen reads it
// first (a read step, then the cas step).
type opRun struct {
	w        *worker
	runCtx   context.Context // the run's (not the operation's timeout)
	from     time.Time       // when the next step is counted from
	measured bool
}

// errStepFailed: an operation ended with a step that failed, recorded
// already.
var errStepFailed = errors.New("bench: a step of the operation failed")

// step records a step of the operation that ends now: its latency runs
// from the intended start (the first step) or the end of the step before.
// A step that completed counts for the starvation check. Nothing is
// recorded once the run is interrupted.
func (o *opRun) step(op Op, out outcome, err error) {
	end := o.w.clock.Now()
	if o.runCtx.Err() != nil {
		return
	}
	if err == nil {
		o.w.gaps.complete(end)
	}
	if o.measured {
		o.w.rec.record(op, end.Sub(o.from), out, err)
	}
	o.from = end
}

// do runs one operation; its last step is left for the caller to record.
func (w *worker) do(ctx context.Context, run *opRun, op Op, insertKey int64) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, w.r.cfg.Timeout)
	defer cancel()
	prefix := w.r.cfg.KeyPrefix
	switch op {
	case OpRead:
		res, err := w.drv.Get(ctx, keyName(prefix, w.keys.Next(w.rng)))
		w.r.countRead(res)
		return outcome{notFound: err == nil && !res.Found}, err
	case OpUpdate:
		return outcome{}, w.put(ctx, keyName(prefix, w.keys.Next(w.rng)), "")
	case OpInsert:
		defer w.r.ks.acked.ack(insertKey)
		return outcome{}, w.put(ctx, keyName(prefix, insertKey), "")
	case OpRMW:
		key := keyName(prefix, w.keys.Next(w.rng))
		res, err := w.drv.Get(ctx, key)
		w.r.countRead(res)
		if err != nil {
			return outcome{}, err
		}
		return outcome{}, w.put(ctx, key, res.Token)
	case OpCAS:
		return w.cas(ctx, run, w.keys.Next(w.rng))
	case OpIncr:
		return w.incr(ctx, w.keys.Next(w.rng))
	case OpLock:
		return w.lock(ctx, w.keys.Next(w.rng))
	case OpKeepAlive:
		return outcome{}, w.drv.(LeaseDriver).KeepAlive(ctx, w.keys.Next(w.rng))
	}
	return outcome{}, fmt.Errorf("bench: unknown operation %v", op)
}

// put writes a fresh value to key and counts it if it left siblings.
func (w *worker) put(ctx context.Context, key []byte, token Token) error {
	res, err := w.drv.Put(ctx, key, w.vals.next(w.rng), token)
	if res.Values > 1 {
		w.r.siblingWrites.Add(1)
	}
	return err
}

// countRead counts a get that returned siblings.
func (r *run) countRead(res Result) {
	if res.Values > 1 {
		r.siblingReads.Add(1)
	}
}

// collector merges the clients' recorders once per interval.
type collector struct {
	recs         []*recorder
	measureStart time.Time
	last         time.Time // end of the last interval
	totals       [numOps]*opStats
	interval     time.Duration
	intervals    []Interval
	lastStats    [numOps]*opStats // the last interval's, which began at lastFrom
	lastFrom     time.Time
	onInterval   func(Interval)
	hdr          *hdrLogs
	hdrErr       error
}

// periodic ticks every interval of real time once the warmup is over, until
// done closes.
func (c *collector) periodic(clock Clock, interval time.Duration, done <-chan struct{}) {
	if wait := c.measureStart.Sub(clock.Now()); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-done:
			t.Stop()
			return
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			c.tick(clock.Now(), false)
		case <-done:
			return
		}
	}
}

// tick closes the interval ending at now. A last interval shorter than half
// the others is folded into the one before it (the series stays even); an
// empty one is dropped.
func (c *collector) tick(now time.Time, final bool) {
	if now.Before(c.last) {
		now = c.last
	}
	stats := mergeRecorders(c.recs)
	empty := true
	for _, s := range stats {
		if s != nil {
			empty = false
		}
	}
	if final && empty && len(c.intervals) > 0 {
		return
	}
	if c.hdr != nil && c.hdrErr == nil {
		c.hdrErr = c.hdr.write(stats, c.last, now)
	}
	for op, s := range stats {
		if s == nil {
			continue
		}
		if c.totals[op] == nil {
			c.totals[op] = newOpStats()
		}
		c.totals[op].merge(s)
	}
	if final && len(c.intervals) > 0 && now.Sub(c.last) < c.interval/2 {
		for op, s := range stats {
			if s == nil {
				continue
			}
			if c.lastStats[op] == nil {
				c.lastStats[op] = newOpStats()
			}
			c.lastStats[op].merge(s)
		}
		c.intervals[len(c.intervals)-1] = newInterval(c.lastStats, now.Sub(c.measureStart), now.Sub(c.lastFrom))
		c.last = now
		return
	}
	iv := newInterval(stats, now.Sub(c.measureStart), now.Sub(c.last))
	c.lastFrom, c.last = c.last, now
	c.lastStats = stats
	c.intervals = append(c.intervals, iv)
	if c.onInterval != nil {
		c.onInterval(iv)
	}
}

func (c *collector) report(end time.Time) *Report {
	elapsed := max(end.Sub(c.measureStart), 0)
	rep := &Report{ElapsedS: elapsed.Seconds(), Results: map[string]OpResult{}, Intervals: c.intervals}
	all := newOpStats()
	for op, s := range c.totals {
		if s == nil {
			continue
		}
		rep.Results[Op(op).String()] = newOpResult(s, elapsed)
		all.merge(s)
	}
	rep.Total = newOpResult(all, elapsed)
	return rep
}
