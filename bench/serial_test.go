package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRegisters is a register store on the fake clock: a read takes
// readService, a compare-and-set or increment takes service.
type fakeRegisters struct {
	*fakeDriver
	readService time.Duration

	mu       sync.Mutex
	versions map[string]uint64
	reads    map[string]int // ReadVersion calls per key
	cas      int            // CompareAndSet calls
	// interfere, when set, runs before the n-th compare-and-set (from 1):
	// true bumps the key's version as another writer would.
	interfere func(n int) bool
	// casFail, when set, fails the n-th compare-and-set (from 1) after it
	// may have applied.
	casFail func(n int) error
	// receipt, when set, is the receipt of the n-th register operation.
	receipt func(n int) *Receipt
	ops     int
	// incrRetries and incrFail shape the n-th increment (from 1).
	incrRetries func(n int) int
	incrFail    func(n int) error
	incrs       int
	incrKeys    map[string]int
}

func newFakeRegisters(c *fakeClock, readService, service time.Duration) *fakeRegisters {
	return &fakeRegisters{
		fakeDriver: newFakeDriver(c, service), readService: readService,
		versions: map[string]uint64{}, reads: map[string]int{}, incrKeys: map[string]int{},
	}
}

func (f *fakeRegisters) nextReceipt() *Receipt {
	f.ops++
	if f.receipt == nil {
		return nil
	}
	return f.receipt(f.ops)
}

func (f *fakeRegisters) ReadVersion(_ context.Context, key []byte) (SerialOutcome, error) {
	f.mu.Lock()
	f.reads[string(key)]++
	o := SerialOutcome{Version: f.versions[string(key)], Receipt: f.nextReceipt()}
	f.mu.Unlock()
	f.clock.advance(f.readService)
	return o, nil
}

func (f *fakeRegisters) CompareAndSet(_ context.Context, key, _ []byte, expect uint64) (SerialOutcome, error) {
	f.mu.Lock()
	f.cas++
	n := f.cas
	k := string(key)
	if f.interfere != nil && f.interfere(n) {
		f.versions[k]++
	}
	o := SerialOutcome{Receipt: f.nextReceipt()}
	if f.versions[k] == expect {
		f.versions[k]++
	} else {
		o.Conflict = true
	}
	o.Version = f.versions[k]
	f.mu.Unlock()
	f.clock.advance(f.service)
	if f.casFail != nil {
		if err := f.casFail(n); err != nil {
			return SerialOutcome{}, err
		}
	}
	return o, nil
}

func (f *fakeRegisters) Increment(_ context.Context, key []byte) (SerialOutcome, error) {
	f.mu.Lock()
	f.incrs++
	n := f.incrs
	o := SerialOutcome{Receipt: f.nextReceipt()}
	if f.incrRetries != nil {
		o.Retries = f.incrRetries(n)
	}
	var err error
	if f.incrFail != nil {
		err = f.incrFail(n)
	}
	if err == nil {
		f.incrKeys[string(key)]++
		f.versions[string(key)]++
		o.Version = f.versions[string(key)]
	}
	f.mu.Unlock()
	f.clock.advance(f.service)
	return o, err
}

func TestCASReadsEachKeyOnceThenUsesTheVersionItSaw(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, 2*time.Millisecond)
	cfg := testConfig(c, "cas")
	cfg.Records, cfg.Ops = 5, 100
	rep := mustRun(t, cfg, d)

	cas, read := rep.Results["cas"], rep.Results["read"]
	if cas.Count != 100 || cas.Conflicts != 0 || cas.ErrorTotal() != 0 {
		t.Errorf("cas count %d conflicts %d errors %v, want 100, 0, none", cas.Count, cas.Conflicts, cas.Errors)
	}
	// One client: each of the 5 keys read once, the first time it is picked.
	if read.Count != 5 {
		t.Errorf("%d reads, want 5 (one per key)", read.Count)
	}
	for k, n := range d.reads {
		if n != 1 {
			t.Errorf("key %s read %d times, want once", k, n)
		}
	}
	var writes uint64
	for _, v := range d.versions {
		writes += v
	}
	if writes != 100 {
		t.Errorf("registers changed %d times, want 100", writes)
	}
	// The read is a step of its own: the cas step is timed from its end.
	if !near(cas.LatencyMs.Max, 2) || !near(read.LatencyMs.Max, 1) || !near(cas.LatencyMs.P50, 2) {
		t.Errorf("cas max %.3f ms, read max %.3f ms; want 2 and 1", cas.LatencyMs.Max, read.LatencyMs.Max)
	}
	if rep.Total.Count != 105 {
		t.Errorf("total %d, want 105 (100 cas, 5 reads)", rep.Total.Count)
	}
}

// Another writer changes the key before every third compare-and-set: that
// one finds another version, counts as a conflict, and the version it
// returns makes the next one on the key succeed without reading again.
func TestCASConflictCountsAndRecordsTheCurrentVersion(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	d.interfere = func(n int) bool { return n%3 == 0 }
	cfg := testConfig(c, "cas")
	cfg.Records, cfg.Ops = 1, 30
	rep := mustRun(t, cfg, d)
	cas := rep.Results["cas"]
	if cas.Count != 30 || cas.Conflicts != 10 {
		t.Errorf("cas count %d conflicts %d, want 30 and 10", cas.Count, cas.Conflicts)
	}
	if n := d.reads[string(keyName("k", 0))]; n != 1 {
		t.Errorf("the key was read %d times, want once (conflicts carry the current version)", n)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "cas: 10 conflicts (33.3%)") {
		t.Errorf("text output lacks the conflicts:\n%s", text.String())
	}
}

// A compare-and-set that failed may have applied: the worker forgets the
// key's version and reads it again before the next one.
func TestCASFailureReadsTheKeyAgain(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	d.casFail = func(n int) error {
		if n == 2 {
			return context.DeadlineExceeded
		}
		return nil
	}
	cfg := testConfig(c, "cas")
	cfg.Records, cfg.Ops = 1, 4
	rep := mustRun(t, cfg, d)
	cas := rep.Results["cas"]
	if cas.Count != 3 || cas.Errors[ClassTimeout] != 1 || cas.Conflicts != 0 {
		t.Errorf("cas count %d timeouts %d conflicts %d, want 3, 1, 0", cas.Count, cas.Errors[ClassTimeout], cas.Conflicts)
	}
	if n := d.reads[string(keyName("k", 0))]; n != 2 {
		t.Errorf("the key was read %d times, want 2 (again after the failure)", n)
	}
}

func TestReceiptsGiveFastPathShareAndRounds(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	// Every register operation has a receipt; 3 of 4 take the fast path
	// (1 round), the fourth takes 2 rounds.
	d.receipt = func(n int) *Receipt {
		if n%4 == 0 {
			return &Receipt{Rounds: 2}
		}
		return &Receipt{FastPath: true, Rounds: 1}
	}
	cfg := testConfig(c, "hot-incr")
	cfg.Records, cfg.Ops = 1, 400
	rep := mustRun(t, cfg, d)
	rc := rep.Results["incr"].Receipts
	if rc == nil {
		t.Fatal("no receipts in the report")
	}
	if rc.Count != 400 || rc.FastPath != 300 || rc.FastPathShare != 0.75 || rc.RoundsPerOp != 1.25 {
		t.Errorf("receipts %+v, want 400, 300 fast, share 0.75, 1.25 rounds per op", *rc)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "incr: fast path 75.0% of 400, 1.250 rounds per op") {
		t.Errorf("text output lacks the receipts:\n%s", text.String())
	}
	// A driver without receipts (etcd) reports none.
	d2 := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	if rep := mustRun(t, cfg, d2); rep.Results["incr"].Receipts != nil {
		t.Errorf("receipts %+v from a driver that gave none", rep.Results["incr"].Receipts)
	}
}

// Every client increments the one key; the retries the driver needed are
// added up.
func TestHotIncrOneKeyAndRetries(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	d.incrRetries = func(n int) int { return n % 3 } // 0, 1, 2, …
	cfg := testConfig(c, "hot-incr")
	cfg.Records, cfg.Clients, cfg.Ops = Workloads["hot-incr"].Records, 8, 300
	rep := mustRun(t, cfg, d)
	incr := rep.Results["incr"]
	if incr.Count != 300 || incr.Retries != 300 {
		t.Errorf("incr count %d retries %d, want 300 and 300", incr.Count, incr.Retries)
	}
	if len(d.incrKeys) != 1 || d.incrKeys[string(keyName("k", 0))] != 300 {
		t.Errorf("increments by key %v, want 300 of one key", d.incrKeys)
	}
	if len(rep.Starvation.MaxGapMs) != 8 {
		t.Errorf("%d client gaps, want 8", len(rep.Starvation.MaxGapMs))
	}
}

// One client completes 10 increments, then fails for 3s, then completes
// again: its longest gap is from the 10th success to the next one.
func TestStarvationGapInARun(t *testing.T) {
	c := newFakeClock()
	d := newFakeRegisters(c, time.Millisecond, time.Millisecond)
	d.incrFail = func(n int) error {
		if n > 10 && n <= 3010 {
			return ErrUnavailable
		}
		return nil
	}
	cfg := testConfig(c, "hot-incr")
	cfg.Records, cfg.Ops = 1, 3100
	rep := mustRun(t, cfg, d)
	st := rep.Starvation
	// Success 10 ends at 10ms; failures 11…3010 take 3000ms; success 3011
	// ends at 3011ms.
	if st.WorstGapMs != 3001 || st.Starved != 1 || st.WorstClient != 0 || st.LimitMs != 2000 {
		t.Errorf("starvation %+v, want worst 3001 ms by client 0, 1 starved, limit 2000", st)
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Starvation map[string]any `json:"starvation"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"limit_ms", "worst_gap_ms", "worst_client", "starved_clients", "max_gap_ms"} {
		if _, ok := doc.Starvation[k]; !ok {
			t.Errorf("starvation in JSON has no %q: %v", k, doc.Starvation)
		}
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if want := "longest wait between a client's completed operations: 3001.000 ms (client 0); 1 of 1 clients over 2000ms"; !strings.Contains(text.String(), want) {
		t.Errorf("text output lacks %q:\n%s", want, text.String())
	}
}

// near: HDR keeps 3 significant digits.
func near(got, want float64) bool { return got >= want*0.999 && got <= want*1.001 }

func TestGapTracker(t *testing.T) {
	start := time.Unix(100, 0)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name        string
		completions []int
		end         int
		want        time.Duration
	}{
		{"none: the whole run", nil, 5000, 5 * time.Second},
		{"first completion late", []int{2500, 2600, 2700}, 2800, 2500 * time.Millisecond},
		{"between completions", []int{100, 200, 2300, 2400}, 2500, 2100 * time.Millisecond},
		{"after the last", []int{100, 200}, 4200, 4 * time.Second},
		{"before the start counts from the start", []int{-500, 300}, 400, 300 * time.Millisecond},
		{"out of order is ignored", []int{1000, 900, 1500}, 1600, time.Second},
	} {
		g := newGapTracker(start)
		for _, ms := range tc.completions {
			g.complete(at(ms))
		}
		if got := g.finish(at(tc.end)); got != tc.want {
			t.Errorf("%s: longest gap %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestNewStarvation(t *testing.T) {
	s := newStarvation([]time.Duration{time.Second, 2500 * time.Millisecond, 2 * time.Second, 3 * time.Second}, 2*time.Second)
	if s.WorstGapMs != 3000 || s.WorstClient != 3 || s.Starved != 2 || s.LimitMs != 2000 {
		t.Errorf("%+v: want worst 3000 ms by client 3, 2 starved (2s is not over)", s)
	}
	if len(s.MaxGapMs) != 4 || s.MaxGapMs[1] != 2500 {
		t.Errorf("per-client gaps %v", s.MaxGapMs)
	}
	if empty := newStarvation(nil, time.Second); empty.WorstGapMs != 0 || empty.Starved != 0 {
		t.Errorf("no clients: %+v", empty)
	}
}

// fakeLocks is a lock store on the fake clock that refuses a lock that is
// held, and remembers which holder took which names.
type fakeLocks struct {
	*fakeDriver

	mu      sync.Mutex
	held    map[string]string
	names   map[string]map[string]bool // holder → names
	opened  int
	closed  int
	ttls    []time.Duration
	contend int
}

func newFakeLocks(c *fakeClock, service time.Duration) *fakeLocks {
	return &fakeLocks{fakeDriver: newFakeDriver(c, service), held: map[string]string{}, names: map[string]map[string]bool{}}
}

func (f *fakeLocks) NewLocker(_ context.Context, holder string, ttl time.Duration) (Locker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened++
	f.ttls = append(f.ttls, ttl)
	f.names[holder] = map[string]bool{}
	return &fakeLocker{f: f, holder: holder}, nil
}

type fakeLocker struct {
	f      *fakeLocks
	holder string
}

func (l *fakeLocker) AcquireRelease(_ context.Context, name string) (SerialOutcome, error) {
	f := l.f
	f.mu.Lock()
	if h, ok := f.held[name]; ok {
		f.contend++
		f.mu.Unlock()
		return SerialOutcome{}, errors.New("held by " + h)
	}
	f.held[name] = l.holder
	f.names[l.holder][name] = true
	f.mu.Unlock()
	f.clock.advance(f.service)
	f.mu.Lock()
	delete(f.held, name)
	f.mu.Unlock()
	return SerialOutcome{}, nil
}

func (l *fakeLocker) Close() error {
	l.f.mu.Lock()
	defer l.f.mu.Unlock()
	l.f.closed++
	return nil
}

func TestLockNamesAreDistinctPerClient(t *testing.T) {
	c := newFakeClock()
	d := newFakeLocks(c, time.Millisecond)
	cfg := testConfig(c, "lock")
	cfg.Records, cfg.Clients, cfg.Ops, cfg.LockTTL = 50, 4, 400, 7*time.Second
	rep := mustRun(t, cfg, d)
	lock := rep.Results["lock"]
	if lock.Count != 400 || lock.ErrorTotal() != 0 || d.contend != 0 {
		t.Errorf("lock count %d errors %v contended %d, want 400 and none", lock.Count, lock.Errors, d.contend)
	}
	if d.opened != 4 || d.closed != 4 {
		t.Errorf("%d lock sessions opened, %d closed; want 4 and 4", d.opened, d.closed)
	}
	for _, ttl := range d.ttls {
		if ttl != 7*time.Second {
			t.Errorf("session ttl %v, want 7s", ttl)
		}
	}
	// Client i holds as bench-c<i> and takes names under kw<i>/ only
	// (however the four goroutines happened to share the operations).
	owner := map[string]string{}
	for holder, names := range d.names {
		prefix := "kw" + strings.TrimPrefix(holder, "bench-c") + "/"
		for name := range names {
			if other, ok := owner[name]; ok {
				t.Errorf("lock %s taken by %s and %s", name, other, holder)
			}
			owner[name] = holder
			if !strings.HasPrefix(name, prefix) {
				t.Errorf("holder %s took lock %q, want names under %q", holder, name, prefix)
			}
		}
	}
	if len(d.names) != 4 {
		t.Errorf("%d holders, want 4", len(d.names))
	}
	if rep.Settings.LockTTL != "7s" {
		t.Errorf("settings lock ttl %q", rep.Settings.LockTTL)
	}
}

func TestSerialWorkloadsNeedACapableDriver(t *testing.T) {
	c := newFakeClock()
	plain := newFakeDriver(c, time.Millisecond)
	for _, wl := range []string{"cas", "hot-incr", "lock"} {
		cfg := testConfig(c, wl)
		cfg.Ops = 1
		if _, err := Run(context.Background(), cfg, []Driver{plain}); err == nil {
			t.Errorf("workload %s ran on a driver without registers or locks", wl)
		}
	}
	// Registers without locks.
	cfg := testConfig(c, "lock")
	cfg.Ops = 1
	if _, err := Run(context.Background(), cfg, []Driver{newFakeRegisters(c, 0, 0)}); err == nil {
		t.Error("workload lock ran on a driver without locks")
	}
}
