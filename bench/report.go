package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Settings echo everything a run was given.
type Settings struct {
	Driver        string             `json:"driver"`
	Endpoints     []string           `json:"endpoints"`
	DriverOptions map[string]any     `json:"driver_options,omitempty"`
	Workload      string             `json:"workload"`
	Mix           map[string]float64 `json:"mix"`
	Distribution  string             `json:"distribution"`
	Records       int64              `json:"records"`
	KeyPrefix     string             `json:"key_prefix"`
	ValueSize     string             `json:"value_size"`
	Seed          uint64             `json:"seed"`
	Clients       int                `json:"clients"`
	Conns         int                `json:"conns"`
	Mode          string             `json:"mode"` // closed or open
	Rate          float64            `json:"rate"`
	Duration      string             `json:"duration"`
	Ops           int64              `json:"ops"`
	Warmup        string             `json:"warmup"`
	Interval      string             `json:"interval"`
	Timeout       string             `json:"timeout"`
	// LockTTL is the ttl of the lock workload's locks.
	LockTTL string `json:"lock_ttl,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Settings Settings  `json:"settings"`
	Started  time.Time `json:"started"`
	// ElapsedS is the measured time (after the warmup), in seconds.
	ElapsedS float64 `json:"elapsed_s"`
	// Results by operation (read, update, insert, rmw): only those that ran.
	Results map[string]OpResult `json:"results"`
	// Total is every operation together.
	Total     OpResult   `json:"total"`
	Intervals []Interval `json:"intervals"`
	// Unsent counts open-loop operations scheduled before the end that never
	// started (the clients were all busy): a sign the rate was not sustained.
	Unsent int64 `json:"unsent"`
	// WarmupOps counts the operations run (not recorded) during the warmup.
	WarmupOps   int64 `json:"warmup_ops"`
	Interrupted bool  `json:"interrupted"`
	// Siblings counts the operations (warmup included) that saw concurrent
	// values of a key.
	Siblings Siblings `json:"siblings"`
	// Starvation is each client's longest wait between completed
	// operations, against the limit.
	Starvation Starvation `json:"starvation"`
}

// Siblings counts operations that saw more than one value of a key. Updates
// that carry the key's causal context leave none unless clients race on the
// same key; blind updates leave one more value each.
type Siblings struct {
	// Writes counts puts that left more than one value.
	Writes int64 `json:"writes"`
	// Reads counts gets that returned more than one value.
	Reads int64 `json:"reads"`
}

// OpResult is one operation's totals. Count, the rate and the latencies
// cover operations that succeeded (a read of a missing key included, also
// counted in NotFound; a compare-and-set that found another version
// included, also counted in Conflicts); failed ones are only counted, by
// class.
type OpResult struct {
	Count     int64   `json:"count"`
	OpsPerSec float64 `json:"ops_per_sec"`
	LatencyMs Latency `json:"latency_ms"`
	NotFound  int64   `json:"not_found"`
	// Conflicts counts compare-and-sets whose expected version was stale.
	Conflicts int64 `json:"conflicts"`
	// Retries counts attempts a driver repeated to complete operations
	// (etcd's optimistic increment loop).
	Retries      int64             `json:"retries"`
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Receipts summarise how quorumkv decided register operations (absent
	// for other stores and operations).
	Receipts *Receipts `json:"receipts,omitempty"`
}

// Receipts summarise quorumkv's receipts of successful register
// operations.
type Receipts struct {
	// Count is the operations that returned a receipt.
	Count int64 `json:"count"`
	// FastPath counts those decided in one round trip (no prepare);
	// FastPathShare is their share of Count.
	FastPath      int64   `json:"fast_path"`
	FastPathShare float64 `json:"fast_path_share"`
	// RoundsPerOp is the mean number of Paxos rounds per operation.
	RoundsPerOp float64 `json:"rounds_per_op"`
}

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P95  float64 `json:"p95"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

// ErrorTotal adds up the errors of every class.
func (r OpResult) ErrorTotal() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

func ms(ns int64) float64 { return round3(float64(ns) / 1e6) }

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*10) / 10
}

func newOpResult(s *opStats, elapsed time.Duration) OpResult {
	h := s.hist
	r := OpResult{
		Count: h.TotalCount(), OpsPerSec: rate(h.TotalCount(), elapsed), NotFound: s.notFound,
		Conflicts: s.conflicts, Retries: s.retries, Errors: map[string]int64{},
	}
	if n := s.receipts.n; n > 0 {
		r.Receipts = &Receipts{
			Count: n, FastPath: s.receipts.fastPath,
			FastPathShare: round3(float64(s.receipts.fastPath) / float64(n)),
			RoundsPerOp:   round3(float64(s.receipts.rounds) / float64(n)),
		}
	}
	if h.TotalCount() > 0 {
		r.LatencyMs = Latency{
			P50: ms(h.ValueAtQuantile(50)), P95: ms(h.ValueAtQuantile(95)), P99: ms(h.ValueAtQuantile(99)),
			P999: ms(h.ValueAtQuantile(99.9)), Max: ms(h.Max()), Mean: round3(h.Mean() / 1e6),
		}
	}
	for i, class := range ErrorClasses {
		r.Errors[class] = s.errors[i]
		if s.samples[i] != "" {
			if r.ErrorSamples == nil {
				r.ErrorSamples = map[string]string{}
			}
			r.ErrorSamples[class] = s.samples[i]
		}
	}
	return r
}

// Interval is one progress interval.
type Interval struct {
	// ElapsedS is the interval's end, in seconds since the warmup ended.
	ElapsedS  float64 `json:"elapsed_s"`
	DurationS float64 `json:"duration_s"`
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Errors    int64   `json:"errors"`
	NotFound  int64   `json:"not_found"`
	// PerOp breaks the interval down by operation.
	PerOp map[string]IntervalOp `json:"per_op"`
}

// IntervalOp is one operation in one interval.
type IntervalOp struct {
	Ops       int64   `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Errors    int64   `json:"errors"`
}

func newInterval(stats [numOps]*opStats, elapsed, d time.Duration) Interval {
	iv := Interval{ElapsedS: round3(elapsed.Seconds()), DurationS: round3(d.Seconds()), PerOp: map[string]IntervalOp{}}
	all := newHistogram()
	for op, s := range stats {
		if s == nil {
			continue
		}
		all.Merge(s.hist)
		iv.Errors += s.errorCount()
		iv.NotFound += s.notFound
		iv.PerOp[Op(op).String()] = IntervalOp{
			Ops: s.count(), OpsPerSec: rate(s.count(), d), Errors: s.errorCount(),
			P50Ms: ms(s.hist.ValueAtQuantile(50)), P99Ms: ms(s.hist.ValueAtQuantile(99)),
		}
	}
	iv.Ops = all.TotalCount()
	iv.OpsPerSec = rate(iv.Ops, d)
	if iv.Ops > 0 {
		iv.P50Ms, iv.P99Ms = ms(all.ValueAtQuantile(50)), ms(all.ValueAtQuantile(99))
	}
	return iv
}

// WriteJSON writes the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteSettings prints the settings block that opens a run.
func WriteSettings(w io.Writer, s Settings) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(k, format string, args ...any) {
		_, _ = fmt.Fprintf(tw, "  %s\t"+format+"\n", append([]any{k}, args...)...)
	}
	_, _ = fmt.Fprintln(tw, "settings")
	p("driver", "%s", s.Driver)
	p("endpoints", "%s", strings.Join(s.Endpoints, ","))
	keys := make([]string, 0, len(s.DriverOptions))
	for k := range s.DriverOptions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p(k, "%v", s.DriverOptions[k])
	}
	wl, _ := LookupWorkload(s.Workload)
	p("workload", "%s (%s)", s.Workload, wl.MixString())
	dist := s.Distribution
	if dist == DistZipfian || dist == DistLatest {
		dist += fmt.Sprintf(" (theta %g)", ZipfianTheta)
	}
	p("distribution", "%s", dist)
	p("records", "%d (keys %s … %s)", s.Records, keyName(s.KeyPrefix, 0), keyName(s.KeyPrefix, max(s.Records-1, 0)))
	p("value size", "%s bytes", s.ValueSize)
	if s.Mode == "open" {
		p("mode", "open loop at %g ops/s, %d clients (latency from the intended start)", s.Rate, s.Clients)
	} else {
		p("mode", "closed loop, %d clients", s.Clients)
	}
	p("connections", "%d", s.Conns)
	ops := "unlimited"
	if s.Ops > 0 {
		ops = fmt.Sprint(s.Ops)
	}
	p("duration", "%s (ops %s), warmup %s", s.Duration, ops, s.Warmup)
	p("interval", "%s", s.Interval)
	p("timeout", "%s per operation", s.Timeout)
	if s.LockTTL != "" {
		p("lock ttl", "%s", s.LockTTL)
	}
	p("seed", "%d", s.Seed)
	return tw.Flush()
}

// FormatInterval is one progress line.
func FormatInterval(iv Interval) string {
	return fmt.Sprintf("%7.1fs  %9.1f ops/s  p50 %8.3f ms  p99 %8.3f ms  errors %d", iv.ElapsedS, iv.OpsPerSec, iv.P50Ms, iv.P99Ms, iv.Errors)
}

// WriteText prints the final block: a row per operation and the total.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintf(tw, "op\tcount\tops/s\tp50 ms\tp95 ms\tp99 ms\tp99.9 ms\tmax ms\tnot_found\tunavailable\ttimeout\tother\t\n")
	row := func(name string, o OpResult) {
		l := o.LatencyMs
		_, _ = fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\t%d\t%d\t\n", name, o.Count, o.OpsPerSec,
			l.P50, l.P95, l.P99, l.P999, l.Max, o.NotFound, o.Errors[ClassUnavailable], o.Errors[ClassTimeout], o.Errors[ClassOther])
	}
	for _, op := range Ops() {
		if o, ok := r.Results[op.String()]; ok {
			row(op.String(), o)
		}
	}
	if len(r.Results) > 1 {
		row("total", r.Total)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, _ = fmt.Fprintf(w, "measured %.2fs; siblings: %d writes left them, %d reads saw them", r.ElapsedS, r.Siblings.Writes, r.Siblings.Reads)
	if r.Unsent > 0 {
		_, _ = fmt.Fprintf(w, "; %d scheduled operations never started (rate not sustained)", r.Unsent)
	}
	if r.Interrupted {
		_, _ = fmt.Fprint(w, "; interrupted")
	}
	_, _ = fmt.Fprintln(w)
	for _, op := range Ops() {
		o, ok := r.Results[op.String()]
		if !ok {
			continue
		}
		writeSerialLine(w, op.String(), o)
		for _, class := range ErrorClasses {
			if msg := o.ErrorSamples[class]; msg != "" {
				_, _ = fmt.Fprintf(w, "%s %s error, e.g.: %s\n", op, class, msg)
			}
		}
	}
	st := r.Starvation
	_, _ = fmt.Fprintf(w, "longest wait between a client's completed operations: %.3f ms (client %d); %d of %d clients over %gms\n",
		st.WorstGapMs, st.WorstClient, st.Starved, len(st.MaxGapMs), st.LimitMs)
	return nil
}

// writeSerialLine prints an operation's conflicts, retries and receipts,
// when it has any.
func writeSerialLine(w io.Writer, op string, o OpResult) {
	var parts []string
	if o.Conflicts > 0 {
		parts = append(parts, fmt.Sprintf("%d conflicts (%.1f%%)", o.Conflicts, pct(o.Conflicts, o.Count)))
	}
	if o.Retries > 0 {
		parts = append(parts, fmt.Sprintf("%d retries (%.2f per op)", o.Retries, float64(o.Retries)/float64(max(o.Count, 1))))
	}
	if rc := o.Receipts; rc != nil {
		parts = append(parts, fmt.Sprintf("fast path %.1f%% of %d, %.3f rounds per op", rc.FastPathShare*100, rc.Count, rc.RoundsPerOp))
	}
	if len(parts) > 0 {
		_, _ = fmt.Fprintf(w, "%s: %s\n", op, strings.Join(parts, ", "))
	}
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) * 100 / float64(of)
}
