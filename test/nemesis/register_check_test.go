package nemesis

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/sent"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// registerHistory leaves out what changed nothing, returns unknown changes
// at +∞ (a cas earlier once a later version was seen), and an unknown
// increment by 1 or 2 at its call.
func TestRegisterHistoryFromRecords(t *testing.T) {
	recs := []regRecord{
		{client: 0, in: put("r", "1"), out: applied("1", 1), call: ms(0), ret: ms(10)},
		{client: 1, in: get("r"), out: unknown, call: ms(1), ret: ms(5000), class: "timeout"},
		{client: 2, in: cas("r", 1, "2"), failed: true, class: "unavailable_write", call: ms(2), ret: ms(3)},
		{client: 3, in: put("r", "3"), out: unknown, call: ms(4), ret: ms(5000), class: "outcome_unknown"},
		{client: 4, in: cas("r", 0, "4"), out: unknown, call: ms(5), ret: ms(5000), class: "outcome_unknown"},
		{client: 5, in: cas("r", 7, "4"), out: unknown, call: ms(6), ret: ms(5000), class: "outcome_unknown"},
		{client: 6, in: get("r"), out: saw("1", 1), call: ms(20), ret: ms(30)},
		{client: 7, in: cas("r", 0, "0"), out: unknown, call: ms(40), ret: ms(5000), class: "outcome_unknown"},
		{client: 8, in: incr("c", 2), out: unknown, call: ms(50), ret: ms(5000), class: "outcome_unknown"},
		{client: 9, in: incr("c", 5), out: unknown, call: ms(60), ret: ms(5000), class: "outcome_unknown"},
	}
	hist, bounded := registerHistory(recs)
	got := map[int][2]int64{}
	for _, op := range hist {
		got[op.ClientId] = [2]int64{op.Call, op.Return}
	}
	want := map[int][2]int64{
		0: {0, int64(ms(10))},
		3: {int64(ms(4)), math.MaxInt64},  // unknown put: +∞
		4: {int64(ms(5)), int64(ms(10))},  // expects 0; version 1 seen by the put returning at 10 ms
		5: {int64(ms(6)), math.MaxInt64},  // expects 7: never passed
		6: {int64(ms(20)), int64(ms(30))}, //
		7: {int64(ms(40)), int64(ms(40))}, // called after version 1 was seen: a no-op at its call
		8: {int64(ms(50)), int64(ms(50))}, // latent increment
		9: {int64(ms(60)), math.MaxInt64}, // an increment by 5 is not latent
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("history (client: call, return)\n got %v\nwant %v", got, want)
	}
	if bounded != 2 {
		t.Fatalf("%d unknown cas bounded, want 2", bounded)
	}
}

// Bounding an unknown cas does not change the verdict: a stale read stays
// illegal and a late apply stays legal.
func TestUnknownCASBoundKeepsVerdicts(t *testing.T) {
	legal := []regRecord{
		{client: 0, in: cas("r", 0, "1"), out: unknown, call: ms(0), ret: ms(5000)},
		{client: 1, in: get("r"), out: absent, call: ms(10), ret: ms(20)},
		{client: 2, in: get("r"), out: saw("1", 1), call: ms(30), ret: ms(40)},
		{client: 3, in: put("r", "2"), out: applied("2", 2), call: ms(50), ret: ms(60)},
	}
	illegal := append(legal[:len(legal):len(legal)],
		regRecord{client: 4, in: get("r"), out: saw("1", 1), call: ms(70), ret: ms(80)})
	for _, c := range []struct {
		name string
		recs []regRecord
		want porcupine.CheckResult
	}{{"late apply", legal, porcupine.Ok}, {"stale read after the bound", illegal, porcupine.Illegal}} {
		hist, bounded := registerHistory(c.recs)
		if bounded != 1 {
			t.Fatalf("%s: %d bounded, want 1", c.name, bounded)
		}
		if res, _ := porcupine.CheckOperationsVerbose(registerModel(), hist, 10*time.Second); res != c.want {
			t.Fatalf("%s: %v, want %v", c.name, res, c.want)
		}
	}
}

// checkRegisterHistory gives a verdict per key, and writes porcupine's
// visualization of a key that is not linearizable.
func TestCheckRegisterHistoryVerdicts(t *testing.T) {
	dir := t.TempDir()
	hist := []porcupine.Operation{
		rop(0, 0, 10, put("r-0", "1"), applied("1", 1)),
		rop(1, 20, 30, get("r-0"), saw("1", 1)),
		rop(2, 0, 10, put("r-1", "1"), applied("1", 1)),
		rop(3, 20, 30, get("r-1"), absent),
	}
	verdicts, files, err := checkRegisterHistory(hist, 10*time.Second, dir)
	if err != nil {
		t.Fatal(err)
	}
	if verdicts["r-0"] != verdictOK || verdicts["r-1"] != verdictIllegal || len(verdicts) != 2 {
		t.Fatalf("verdicts %v", verdicts)
	}
	if len(files) != 1 || filepath.Base(files[0]) != "register-r-1.html" {
		t.Fatalf("visualizations %v", files)
	}
	if b, err := os.ReadFile(files[0]); err != nil || !strings.Contains(string(b), "<html") {
		t.Fatalf("visualization: %v (%d bytes)", err, len(b))
	}
}

// A checker time-out is a failure. Thirty unknown puts of distinct values
// pending at +∞ and a read of a value none of them wrote: porcupine must
// try every subset of the puts before it can call the read illegal.
func TestRegisterCheckerTimeoutFails(t *testing.T) {
	var recs []regRecord
	for i := range 30 {
		recs = append(recs, regRecord{client: i, in: put("r-0", fmt.Sprint("v", i)), out: unknown, call: ms(i), ret: ms(5000), class: "outcome_unknown"})
	}
	recs = append(recs, regRecord{client: 30, in: get("r-0"), out: saw("never", 5), call: ms(100), ret: ms(110)})
	recs = append(recs, regRecord{client: 31, in: get("r-1"), out: absent, call: ms(100), ret: ms(110)})
	dir := t.TempDir()
	t0 := time.Now()
	rep := checkRegisters(recs, []string{"r-0", "r-1"}, 0, Config{CheckTimeout: 300 * time.Millisecond}, dir, t.Logf)
	if took := time.Since(t0); took > 20*time.Second {
		t.Fatalf("the check took %v with a 300ms limit", took)
	}
	if rep.Verdicts["r-0"] != verdictTimeout || rep.Verdicts["r-1"] != verdictOK {
		t.Fatalf("verdicts %v, want r-0 timeout, r-1 ok", rep.Verdicts)
	}
	why := rep.why()
	if len(why) != 1 || !strings.Contains(why[0], "r-0") || !strings.Contains(why[0], "time-out") {
		t.Fatalf("why %q, want the time-out of r-0 as the one failure", why)
	}
	if _, err := os.Stat(filepath.Join(dir, "registers.jsonl")); err != nil {
		t.Fatal(err)
	}
}

// The report counts operations by kind and outcome, and the unknown share
// fails the run only with a bound.
func TestRegisterReportFigures(t *testing.T) {
	var recs []regRecord
	add := func(n int, r regRecord) {
		for range n {
			recs = append(recs, r)
		}
	}
	add(40, regRecord{in: get("r-0"), out: saw("1", 1), where: "n1"})
	add(30, regRecord{in: cas("r-0", 1, "2"), out: applied("2", 2), where: "routed"})
	add(20, regRecord{in: cas("r-0", 1, "2"), out: saw("2", 2), where: "n2"})
	add(5, regRecord{in: put("r-0", "2"), failed: true, class: "unavailable_write", where: "n1"})
	add(2, regRecord{in: incr("r-counter", 1), out: unknown, class: "outcome_unknown", where: "routed"})
	add(3, regRecord{in: put("r-0", "3"), out: unknown, class: "timeout", where: "n3"})
	rep := newRegisterReport(recs, []string{"r-0", "r-counter"})
	if rep.Ops != 100 || rep.Unknown != 5 || rep.UnknownShare != 0.05 || rep.UnknownRouted != 2 || rep.UnknownPinned != 3 {
		t.Fatalf("report %+v", rep)
	}
	c := rep.ByKind[regCAS]
	if c.Ops != 50 || c.OK != 50 || c.Applied != 30 || c.ConditionFailed != 20 {
		t.Fatalf("cas %+v", c)
	}
	if p := rep.ByKind[regPut]; p.Failed != 5 || p.Unknown != 3 || rep.Failures["unavailable_write"] != 5 || rep.Failures["timeout"] != 3 {
		t.Fatalf("put %+v, failures %v", p, rep.Failures)
	}
	if why := rep.why(); len(why) != 0 {
		t.Fatalf("reported only, yet %q", why)
	}
	rep.MaxUnknown = 0.02
	if why := rep.why(); len(why) != 1 || !strings.Contains(why[0], "unknown outcomes") {
		t.Fatalf("with a 2%% bound: %q", why)
	}
	none := newRegisterReport([]regRecord{{in: get("r-0"), failed: true, class: "unimplemented"}}, []string{"r-0"})
	if why := none.why(); len(why) != 1 || !strings.Contains(why[0], "none of 1") {
		t.Fatalf("nothing answered: %q", why)
	}
}

// "membership" in the fault kinds stands for every ring change.
func TestExpandFaults(t *testing.T) {
	got := expandFaults([]string{"kill", "membership", "join"})
	want := append([]string{"kill"}, MembershipFaults...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

// An operation's error decides whether it is in the history as an answer,
// left out as a definite failure, or returned at +∞ as unknown.
func TestRegisterOutcomes(t *testing.T) {
	res := &client.SerialResult{Found: true, Value: []byte("1"), Version: 1}
	cases := []struct {
		name              string
		res               *client.SerialResult
		err               error
		answered, unknown bool
		class             string
	}{
		{"answer", res, nil, true, false, ""},
		{"failed condition with the state", res, client.ErrConditionFailed, true, false, ""},
		{"failed condition without it", nil, client.ErrConditionFailed, false, false, "condition_failed_without_state"},
		{"outcome unknown", nil, fmt.Errorf("cas: %w", client.ErrOutcomeUnknown), false, true, "outcome_unknown"},
		{"unavailable", nil, &client.UnavailableError{Op: "write"}, false, false, "unavailable_write"},
		{"not a number", nil, client.ErrNotANumber, false, false, "not_a_number"},
		{"invalid", nil, fmt.Errorf("%w: bad key", client.ErrInvalidArgument), false, false, "invalid_argument"},
		{"never sent", nil, &client.NodeError{Endpoint: "n1", Err: sent.Wrap(status.Error(codes.Unavailable, "dial"))}, false, false, "not_sent"},
		{"not implemented", nil, &client.ServerError{Code: codes.Unimplemented}, false, false, "unimplemented"},
		{"node down throughout", nil, &errNodeDown{fmt.Errorf("x: %w", client.ErrOutcomeUnknown)}, false, false, "node_down"},
		{"deadline", nil, context.DeadlineExceeded, false, true, "timeout"},
		// The client turns a change that may have run on a failed node
		// into ErrOutcomeUnknown: a node failure it reports is definite.
		{"no node could take it", nil, &client.NodeError{Endpoint: "n1", Err: &client.ServerError{Code: codes.Unavailable}}, false, false, "node_unreachable"},
		{"no result, no error", nil, nil, false, true, "no_result"},
	}
	for _, c := range cases {
		answered, unknown, class := regOutcome(c.res, c.err)
		if answered != c.answered || unknown != c.unknown || class != c.class {
			t.Errorf("%s: answered %v unknown %v class %q, want %v %v %q", c.name, answered, unknown, class, c.answered, c.unknown, c.class)
		}
	} // A read with no answer is a failed read: it changed nothing.
	for _, c := range cases {
		answered, unknown, _ := opOutcome(regGet, c.res, c.err)
		if unknown || answered != c.answered {
			t.Errorf("get %s: answered %v unknown %v, want %v and never unknown", c.name, answered, unknown, c.answered)
		}
	}
}
