package nemesis

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/quorumkv/quorumkv/client"
)

// regRecord is one register operation as the workload recorded it.
type regRecord struct {
	client int // porcupine client id: a worker takes a new one after an unknown outcome
	in     regInput
	// out is the answer; out.Unknown for an outcome that is not known.
	out regOutput
	// failed: a definite failure, nothing changed (unavailable, refused
	// before it ran); such an operation is not part of the history checked.
	failed    bool
	class     string        // the failure's class ("" for an answer)
	call, ret time.Duration // since the workloads started, on the harness's one monotonic clock
	where     string        // the node it was sent to, or "routed"
	// err and receipt say how it ended, for reading a failed history.
	err     string
	receipt string
}

// noteAnswer keeps an operation's error text and its proposer's receipt.
func (r *regRecord) noteAnswer(res *client.SerialResult, err error) {
	if err != nil {
		r.err = err.Error()
	}
	if res != nil && res.Proposer != "" {
		r.receipt = fmt.Sprintf("%s rounds=%d fast=%v dedup=%v", res.Proposer, res.Rounds, res.FastPath, res.Deduplicated)
	}
}

// registerHistory turns the records into the history porcupine checks:
//
//   - definite failures and gets with an unknown outcome are left out
//     (neither changed anything);
//   - a cas or put with an unknown outcome returns at +∞ (math.MaxInt64),
//     except that a cas whose expected version some answer showed passed
//     returns at that answer's return (unknownCASBound);
//   - an increment by 1 or 2 with an unknown outcome returns at its call
//     (a latent increment, see regStep); any other one at +∞.
//
// It also returns how many unknown cas got an earlier return.
func registerHistory(recs []regRecord) ([]porcupine.Operation, int) {
	var ops []porcupine.Operation
	for _, r := range recs {
		if r.failed || (r.out.Unknown && r.in.Op == regGet) {
			continue
		}
		op := porcupine.Operation{ClientId: r.client, Input: r.in, Output: r.out, Call: int64(r.call), Return: int64(r.ret), Metadata: r.where}
		if r.out.Unknown {
			op.Return = math.MaxInt64
			if r.in.Op == regIncr && (r.in.By == 1 || r.in.By == 2) {
				op.Return = op.Call
			}
		}
		ops = append(ops, op)
	}
	return ops, boundUnknownCAS(ops)
}

// boundUnknownCAS gives a cas with an unknown outcome an earlier return
// than +∞ where the history allows it: once any definite answer on its key
// showed a version above the one the cas expects, the register is past
// that version for good (versions only grow), so the cas can no longer
// apply; if it applied at all, it did before that answer returned. Its
// return becomes that answer's return (or its own call, when later): every
// linearization of the history with the +∞ return maps to one with the
// earlier return and back, so the verdict is the same, but the checker
// no longer carries the cas to the end of the history. It returns how many
// it bounded.
func boundUnknownCAS(ops []porcupine.Operation) int {
	type seen struct {
		version uint64
		ret     int64
	}
	byKey := map[string][]seen{}
	for _, op := range ops {
		out := op.Output.(regOutput)
		if !out.Unknown {
			k := op.Input.(regInput).Key
			byKey[k] = append(byKey[k], seen{out.Version, op.Return})
		}
	}
	n := 0
	for i := range ops {
		in, out := ops[i].Input.(regInput), ops[i].Output.(regOutput)
		if !out.Unknown || in.Op != regCAS || ops[i].Return != math.MaxInt64 {
			continue
		}
		bound := int64(math.MaxInt64)
		for _, s := range byKey[in.Key] {
			if s.version > in.Expect && s.ret < bound {
				bound = s.ret
			}
		}
		if bound != math.MaxInt64 {
			ops[i].Return = max(ops[i].Call, bound)
			n++
		}
	}
	return n
}

// Register verdicts per key.
const (
	verdictOK      = "ok"
	verdictIllegal = "illegal"
	verdictTimeout = "timeout" // the checker gave up: counted as a failure
)

// checkRegisterHistory checks each key's history (the model's partition)
// with porcupine, all keys at once and each within timeout, and writes
// porcupine's visualization of every key that is not ok into dir (when
// dir is not empty). It returns the verdict per key and the files written.
func checkRegisterHistory(hist []porcupine.Operation, timeout time.Duration, dir string) (map[string]string, []string, error) {
	model := registerModel()
	parts := model.Partition(hist)
	verdicts := map[string]string{}
	var files []string
	var errs []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, part := range parts {
		key := part[0].Input.(regInput).Key
		wg.Go(func() {
			res, info := porcupine.CheckOperationsVerbose(model, part, timeout)
			v := verdictOK
			switch res {
			case porcupine.Illegal:
				v = verdictIllegal
			case porcupine.Unknown:
				v = verdictTimeout
			}
			var file string
			var err error
			if v != verdictOK && dir != "" {
				file = filepath.Join(dir, "register-"+key+".html")
				err = porcupine.VisualizePath(model, info, file)
			}
			mu.Lock()
			defer mu.Unlock()
			verdicts[key] = v
			if err != nil {
				errs = append(errs, fmt.Sprintf("visualize %s: %v", key, err))
			} else if file != "" {
				files = append(files, file)
			}
		})
	}
	wg.Wait()
	sort.Strings(files)
	if len(errs) > 0 {
		sort.Strings(errs)
		return verdicts, files, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return verdicts, files, nil
}

// RegisterKindStats count one kind of register operation by outcome.
type RegisterKindStats struct {
	Ops int `json:"ops"`
	// OK: answered (a get, an applied change, or a failed condition, which
	// is a definite read of the current state).
	OK              int `json:"ok"`
	Applied         int `json:"applied"`
	ConditionFailed int `json:"condition_failed"`
	// Failed: definite failures (nothing changed), by class in
	// RegisterReport.Failures.
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
}

// RegisterReport is the register workload's part of the summary.
type RegisterReport struct {
	Keys   []string                      `json:"keys"`
	Ops    int                           `json:"ops"`
	ByKind map[string]*RegisterKindStats `json:"by_kind"`
	// Unknown outcomes (every kind, gets included) and their share of all
	// register operations; those of the ring-aware client's workers and of
	// the pinned ones (the rest are final reads).
	Unknown       int     `json:"unknown"`
	UnknownShare  float64 `json:"unknown_share"`
	UnknownRouted int     `json:"unknown_routed"`
	UnknownPinned int     `json:"unknown_pinned"`
	// MaxUnknown is the bound on UnknownShare the run was judged by (0:
	// reported only).
	MaxUnknown float64           `json:"max_unknown"`
	Failures   map[string]int    `json:"failures,omitempty"`       // definite failures and unknown outcomes by error class
	HistoryOps int               `json:"history_ops"`              // operations in the history checked
	UnknownCAS int               `json:"unknown_cas_bounded"`      // unknown cas returned before +∞ (boundUnknownCAS)
	FinalReads int               `json:"final_reads"`              // gets after the final heal, part of the history
	Verdicts   map[string]string `json:"verdicts"`                 // per key: ok, illegal or timeout
	CheckS     float64           `json:"check_s"`                  // how long porcupine took
	Timeout    float64           `json:"check_timeout_s"`          // porcupine's time limit per run
	Visualized []string          `json:"visualizations,omitempty"` // porcupine's HTML for keys not ok
	// Availability: the availability figures of the register requests
	// alone (reported, not judged; the run's own figures count them with
	// the rest).
	Availability *Availability `json:"availability,omitempty"`
	Error        string        `json:"error,omitempty"`
}

// newRegisterReport counts the records.
func newRegisterReport(recs []regRecord, keys []string) *RegisterReport {
	rep := &RegisterReport{Keys: slices.Clone(keys), ByKind: map[string]*RegisterKindStats{}, Failures: map[string]int{}, Verdicts: map[string]string{}}
	for _, r := range recs {
		ks := rep.ByKind[r.in.Op]
		if ks == nil {
			ks = &RegisterKindStats{}
			rep.ByKind[r.in.Op] = ks
		}
		rep.Ops++
		ks.Ops++
		switch {
		case r.out.Unknown:
			ks.Unknown++
			rep.Unknown++
			switch r.where {
			case "routed":
				rep.UnknownRouted++
			case "final":
			default:
				rep.UnknownPinned++
			}
			rep.Failures[r.class]++
		case r.failed:
			ks.Failed++
			rep.Failures[r.class]++
		default:
			ks.OK++
			if r.out.Applied {
				ks.Applied++
			} else if r.in.Op != regGet {
				ks.ConditionFailed++
			}
		}
	}
	if rep.Ops > 0 {
		rep.UnknownShare = float64(int64(float64(rep.Unknown)/float64(rep.Ops)*10000)) / 10000
	}
	return rep
}

// why lists what fails the run: a key that is not linearizable, a checker
// time-out, unknown outcomes above the bound, or no answer at all.
func (r *RegisterReport) why() []string {
	var out []string
	keys := make([]string, 0, len(r.Verdicts))
	for k := range r.Verdicts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch r.Verdicts[k] {
		case verdictIllegal:
			out = append(out, fmt.Sprintf("register %s: the history is not linearizable (porcupine; visualization in the data dir)", k))
		case verdictTimeout:
			out = append(out, fmt.Sprintf("register %s: porcupine did not finish within %.0fs (a checker time-out counts as a failure)", k, r.Timeout))
		}
	}
	if r.Error != "" {
		out = append(out, "register check: "+r.Error)
	}
	if r.MaxUnknown > 0 && r.UnknownShare > r.MaxUnknown {
		out = append(out, fmt.Sprintf("register operations: %.2f%% unknown outcomes (%d of %d; want <= %.2f%%)", 100*r.UnknownShare, r.Unknown, r.Ops, 100*r.MaxUnknown))
	}
	answered := 0
	for _, ks := range r.ByKind {
		answered += ks.OK
	}
	if answered == 0 {
		out = append(out, fmt.Sprintf("register operations: none of %d was answered (failures %v)", r.Ops, r.Failures))
	}
	return out
}

// checkRegisters judges the register workload's records: the figures,
// porcupine's verdict on each key within cfg.CheckTimeout, and the
// history itself (registers.jsonl) and porcupine's visualization of every
// key that is not linearizable in dir.
func checkRegisters(recs []regRecord, keys []string, finalReads int, cfg Config, dir string, logf func(string, ...any)) *RegisterReport {
	rep := newRegisterReport(recs, keys)
	rep.FinalReads = finalReads
	rep.MaxUnknown = cfg.MaxUnknown
	rep.Timeout = cfg.CheckTimeout.Seconds()
	if err := writeRegisterRecords(filepath.Join(dir, "registers.jsonl"), recs); err != nil {
		logf("register history: %v", err)
	}
	hist, bounded := registerHistory(recs)
	rep.HistoryOps, rep.UnknownCAS = len(hist), bounded
	logf("registers: checking %d operations on %d keys with porcupine (limit %v)", len(hist), len(keys), cfg.CheckTimeout)
	t0 := time.Now()
	verdicts, files, err := checkRegisterHistory(hist, cfg.CheckTimeout, dir)
	rep.CheckS = round1(time.Since(t0).Seconds())
	for _, k := range keys {
		rep.Verdicts[k] = "no_operations"
	}
	for k, v := range verdicts {
		rep.Verdicts[k] = v
	}
	rep.Visualized = files
	if err != nil {
		rep.Error = err.Error()
	}
	logf("registers: %d ops, %d unknown (%.2f%%), verdicts %v in %.1fs", rep.Ops, rep.Unknown, 100*rep.UnknownShare, rep.Verdicts, rep.CheckS)
	return rep
}

// writeRegisterRecords dumps the register operations (one JSON object a
// line, times in microseconds since the workloads started).
func writeRegisterRecords(path string, recs []regRecord) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range recs {
		_ = enc.Encode(map[string]any{
			"client": r.client, "where": r.where, "call_us": r.call.Microseconds(), "return_us": r.ret.Microseconds(),
			"key": r.in.Key, "op": r.in.Op, "expect": r.in.Expect, "value": r.in.Value, "by": r.in.By,
			"unknown": r.out.Unknown, "failed": r.failed, "class": r.class,
			"applied": r.out.Applied, "found": r.out.Found, "out_value": r.out.Value, "version": r.out.Version,
			"op_id": r.in.OpID, "err": r.err, "receipt": r.receipt,
		})
	}
	return errors.Join(w.Flush(), f.Close())
}
