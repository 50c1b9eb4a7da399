package bench

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that only moves when told: sleeping jumps to the
// wake-up time, and the fake driver advances it by its service time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) SleepUntil(ctx context.Context, t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeDriver serves every operation in exactly service of fake time and
// remembers when each started.
type fakeDriver struct {
	clock   *fakeClock
	service time.Duration
	fail    func(key []byte) error

	mu     sync.Mutex
	starts []time.Time
	data   map[string]bool
}

func newFakeDriver(c *fakeClock, service time.Duration) *fakeDriver {
	return &fakeDriver{clock: c, service: service, data: map[string]bool{}}
}

func (d *fakeDriver) op(key []byte, write bool) (bool, error) {
	d.mu.Lock()
	d.starts = append(d.starts, d.clock.Now())
	found := d.data[string(key)]
	if write {
		d.data[string(key)] = true
	}
	d.mu.Unlock()
	d.clock.advance(d.service)
	if d.fail != nil {
		return found, d.fail(key)
	}
	return found, nil
}

func (d *fakeDriver) Get(_ context.Context, key []byte) (Result, error) {
	found, err := d.op(key, false)
	return Result{Found: found, Token: "t"}, err
}

func (d *fakeDriver) Put(_ context.Context, key, _ []byte, _ Token) (Result, error) {
	_, err := d.op(key, true)
	return Result{Found: true, Token: "t"}, err
}

func (d *fakeDriver) Close() error { return nil }

func (d *fakeDriver) calls() []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]time.Time(nil), d.starts...)
}

func testConfig(c *fakeClock, wl string) Config {
	return Config{
		Workload: Workloads[wl], Records: 100, KeyPrefix: "k", ValueSize: ValueSize{8, 8},
		Seed: 1, Clients: 1, Clock: c,
	}
}

func mustRun(t *testing.T, cfg Config, drivers ...Driver) *Report {
	t.Helper()
	rep, err := Run(context.Background(), cfg, drivers)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestScheduleIsExact(t *testing.T) {
	start := time.Unix(0, 0)
	for _, rate := range []float64{1000, 250, 1e6, 3, 7.5} {
		s := Schedule{Start: start, Rate: rate}
		for _, i := range []int64{0, 1, 2, 3, 999, 1000, 123_456, 1_000_000_007} {
			want := time.Duration(float64(i) * 1e9 / rate)
			if rate == 3 || rate == 7.5 { // not a whole number of ns: rounded, never accumulated
				want = time.Duration(float64(i)*1e9/rate + 0.5)
			}
			if got := s.At(i).Sub(start); got != want {
				t.Errorf("rate %g: At(%d) = start+%v, want start+%v", rate, i, got, want)
			}
		}
	}
	s := Schedule{Start: start, Rate: 1000}
	for i := range int64(10_000) {
		if d := s.At(i + 1).Sub(s.At(i)); d != time.Millisecond {
			t.Fatalf("At(%d)-At(%d) = %v, want 1ms", i+1, i, d)
		}
	}
	if n := s.Before(start.Add(10 * time.Millisecond)); n != 10 {
		t.Errorf("Before(10ms) = %d, want 10 (operations 0…9)", n)
	}
	if n := s.Before(start.Add(10*time.Millisecond + 1)); n != 11 {
		t.Errorf("Before(10ms+1ns) = %d, want 11", n)
	}
}

// An open loop that the store cannot keep up with: operations are meant to
// start every 1ms but each takes 2ms. Operation i starts at 2i ms and ends at
// 2(i+1) ms; measured from its intended start, i ms, its latency is i+2 ms.
// A closed loop (or an open loop measuring from the actual send) would say
// 2ms for all of them.
func TestOpenLoopChargesQueueingDelay(t *testing.T) {
	c := newFakeClock()
	start := c.Now()
	d := newFakeDriver(c, 2*time.Millisecond)
	cfg := testConfig(c, "c")
	cfg.Rate, cfg.Ops = 1000, 100
	rep := mustRun(t, cfg, d)

	read := rep.Results["read"]
	if read.Count != 100 {
		t.Fatalf("count %d, want 100", read.Count)
	}
	for i, at := range d.calls() {
		if want := start.Add(time.Duration(2*i) * time.Millisecond); !at.Equal(want) {
			t.Fatalf("operation %d started at +%v, want +%v", i, at.Sub(start), want.Sub(start))
		}
	}
	// Latencies are 2, 3, …, 101 ms (HDR keeps 3 significant digits).
	l := read.LatencyMs
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"max", l.Max, 101}, {"p50", l.P50, 51}, {"p99", l.P99, 100}, {"mean", l.Mean, 51.5}} {
		if c.got < c.want*0.99 || c.got > c.want*1.01 {
			t.Errorf("%s latency %.3f ms, want %.0f ms", c.name, c.got, c.want)
		}
	}
}

// A store faster than the rate: operations start exactly on schedule and
// take their service time.
func TestOpenLoopKeepsSchedule(t *testing.T) {
	c := newFakeClock()
	start := c.Now()
	d := newFakeDriver(c, 300*time.Microsecond)
	cfg := testConfig(c, "c")
	cfg.Rate, cfg.Ops = 2000, 50
	rep := mustRun(t, cfg, d)
	for i, at := range d.calls() {
		if want := start.Add(time.Duration(i) * 500 * time.Microsecond); !at.Equal(want) {
			t.Fatalf("operation %d started at +%v, want +%v", i, at.Sub(start), want.Sub(start))
		}
	}
	if l := rep.Results["read"].LatencyMs; l.Max > 0.301 || l.P50 < 0.299 {
		t.Errorf("latency p50 %.3f max %.3f ms, want 0.3", l.P50, l.Max)
	}
	// 50 operations, the last starting at 49 × 500µs and ending 300µs later.
	if want := (49*500 + 300) * time.Microsecond; rep.ElapsedS != want.Seconds() {
		t.Errorf("elapsed %vs, want %v", rep.ElapsedS, want)
	}
}

func TestClosedLoopWarmupAndDuration(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, time.Millisecond)
	cfg := testConfig(c, "a")
	cfg.Warmup, cfg.Duration = 10*time.Millisecond, 100*time.Millisecond
	rep := mustRun(t, cfg, d)
	total := rep.Total
	// One client, 1ms per operation: 10 warmup operations not recorded, then
	// 100 recorded.
	if total.Count != 100 {
		t.Errorf("recorded %d operations, want 100", total.Count)
	}
	if n := len(d.calls()); n != 110 || rep.WarmupOps != 10 {
		t.Errorf("driver saw %d operations, %d in the warmup; want 110 and 10", n, rep.WarmupOps)
	}
	if total.LatencyMs.Max != 1 || total.LatencyMs.P50 != 1 {
		t.Errorf("latency %+v, want 1ms", total.LatencyMs)
	}
	if total.OpsPerSec != 1000 {
		t.Errorf("%.1f ops/s, want 1000", total.OpsPerSec)
	}
	if rep.Results["read"].Count+rep.Results["update"].Count != 100 {
		t.Errorf("read+update = %d, want 100", rep.Results["read"].Count+rep.Results["update"].Count)
	}
}

func TestLoadInsertsEveryKeyOnce(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, time.Microsecond)
	cfg := testConfig(c, "load")
	cfg.Records, cfg.Clients = 500, 4
	rep := mustRun(t, cfg, d)
	if got := rep.Results["insert"].Count; got != 500 {
		t.Errorf("%d inserts, want 500", got)
	}
	if len(d.data) != 500 {
		t.Errorf("%d keys written, want 500", len(d.data))
	}
	for i := range int64(500) {
		if !d.data[string(keyName("k", i))] {
			t.Fatalf("key %d not inserted", i)
		}
	}
}

func TestErrorsAndNotFoundAreCounted(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, time.Millisecond)
	n := 0
	d.fail = func([]byte) error {
		n++
		switch n % 4 {
		case 1:
			return ErrUnavailable
		case 2:
			return context.DeadlineExceeded
		case 3:
			return errors.New("boom")
		}
		return nil
	}
	cfg := testConfig(c, "c")
	cfg.Ops = 40
	rep := mustRun(t, cfg, d)
	read := rep.Results["read"]
	// 40 measured operations: 30 failed (counted by class, no latency), 10
	// succeeded as reads of missing keys.
	if read.Count != 10 || read.NotFound != 10 {
		t.Errorf("count %d not_found %d, want 10 and 10", read.Count, read.NotFound)
	}
	for _, class := range ErrorClasses {
		if read.Errors[class] != 10 {
			t.Errorf("%s errors %d, want 10", class, read.Errors[class])
		}
	}
	if read.ErrorSamples[ClassOther] != "boom" {
		t.Errorf("error sample %q", read.ErrorSamples[ClassOther])
	}
}

func TestHistogramMergeAcrossClients(t *testing.T) {
	r1, r2 := &recorder{}, &recorder{}
	for range 100 {
		r1.record(OpRead, time.Millisecond, outcome{}, nil)
		r2.record(OpRead, 3*time.Millisecond, outcome{notFound: true}, nil)
		r2.record(OpUpdate, 5*time.Millisecond, outcome{}, nil)
	}
	r2.record(OpUpdate, 0, outcome{}, ErrUnavailable)
	merged := mergeRecorders([]*recorder{r1, r2})
	read, update := merged[OpRead], merged[OpUpdate]
	if read.count() != 200 || read.notFound != 100 {
		t.Fatalf("read count %d not_found %d, want 200 and 100", read.count(), read.notFound)
	}
	if p := read.hist.ValueAtQuantile(50); !read.hist.ValuesAreEquivalent(p, int64(time.Millisecond)) {
		t.Errorf("read p50 %v, want 1ms", time.Duration(p))
	}
	if m := read.hist.Max(); !read.hist.ValuesAreEquivalent(m, int64(3*time.Millisecond)) {
		t.Errorf("read max %v, want 3ms", time.Duration(m))
	}
	if update.count() != 100 || update.errors[classIndex(ClassUnavailable)] != 1 {
		t.Errorf("update count %d errors %v", update.count(), update.errors)
	}
	if merged[OpInsert] != nil || merged[OpRMW] != nil {
		t.Error("stats for operations that never ran")
	}
	// Draining resets the recorders: the next interval starts empty.
	again := mergeRecorders([]*recorder{r1, r2})
	for op, s := range again {
		if s != nil {
			t.Errorf("%s: %d operations after drain", Op(op), s.count())
		}
	}
}

func TestReportJSONShape(t *testing.T) {
	c := newFakeClock()
	d := newFakeDriver(c, time.Millisecond)
	cfg := testConfig(c, "f")
	cfg.Ops = 200
	rep := mustRun(t, cfg, d)
	rep.Settings.Driver, rep.Settings.Endpoints = "fake", []string{"nowhere:1"}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"settings", "started", "elapsed_s", "results", "total", "intervals", "unsent", "warmup_ops", "interrupted"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("report has no %q", k)
		}
	}
	settings := doc["settings"].(map[string]any)
	for _, k := range []string{"driver", "endpoints", "workload", "mix", "distribution", "records", "key_prefix",
		"value_size", "seed", "clients", "mode", "rate", "duration", "ops", "warmup", "timeout"} {
		if _, ok := settings[k]; !ok {
			t.Errorf("settings have no %q", k)
		}
	}
	results := doc["results"].(map[string]any)
	if len(results) != 2 || results["read"] == nil || results["rmw"] == nil {
		t.Fatalf("results %v, want read and rmw", results)
	}
	for _, op := range []string{"read", "rmw"} {
		r := results[op].(map[string]any)
		for _, k := range []string{"count", "ops_per_sec", "latency_ms", "not_found", "errors"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%s result has no %q", op, k)
			}
		}
		lat := r["latency_ms"].(map[string]any)
		for _, k := range []string{"p50", "p95", "p99", "p99_9", "max", "mean"} {
			if _, ok := lat[k]; !ok {
				t.Errorf("%s latency has no %q", op, k)
			}
		}
		errs := r["errors"].(map[string]any)
		for _, k := range ErrorClasses {
			if _, ok := errs[k]; !ok {
				t.Errorf("%s errors have no %q", op, k)
			}
		}
	}
	// A read-modify-write is a get and a put: 2ms in this fake.
	if rmw := rep.Results["rmw"]; rmw.LatencyMs.P50 < 2 || rmw.LatencyMs.P50 > 2.002 {
		t.Errorf("rmw p50 %.3f ms, want 2", rmw.LatencyMs.P50)
	}
	ivs := doc["intervals"].([]any)
	if len(ivs) != 1 {
		t.Fatalf("%d intervals, want 1 (no progress interval set)", len(ivs))
	}
	iv := ivs[0].(map[string]any)
	for _, k := range []string{"elapsed_s", "duration_s", "ops", "ops_per_sec", "p50_ms", "p99_ms", "errors", "per_op"} {
		if _, ok := iv[k]; !ok {
			t.Errorf("interval has no %q", k)
		}
	}
}

func TestClassify(t *testing.T) {
	for err, want := range map[error]string{
		ErrUnavailable: ClassUnavailable,
		errors.Join(errors.New("x"), ErrUnavailable): ClassUnavailable,
		context.DeadlineExceeded:                     ClassTimeout,
		errors.New("connection reset"):               ClassOther,
	} {
		if got := Classify(err); got != want {
			t.Errorf("Classify(%v) = %s, want %s", err, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Workload: Workloads["a"], Records: 10, Clients: 1, Duration: time.Second, ValueSize: ValueSize{1, 1}}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*Config){
		"no records":       func(c *Config) { c.Records = 0 },
		"no clients":       func(c *Config) { c.Clients = 0 },
		"no bound":         func(c *Config) { c.Duration = 0 },
		"bad distribution": func(c *Config) { c.Distribution = "pareto" },
		"negative rate":    func(c *Config) { c.Rate = -1 },
		"no workload":      func(c *Config) { c.Workload = Workload{} },
	} {
		c := ok
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
