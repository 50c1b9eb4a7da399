package paxos_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/paxos"
)

// The scripts in testdata write ballots as COUNTER.NODE ("5.a") or 0, and
// arguments as key=value words; these helpers parse and print them.

func parseBallot(t testing.TB, s string) paxos.Ballot {
	t.Helper()
	if s == "0" {
		return paxos.Ballot{}
	}
	c, n, ok := strings.Cut(s, ".")
	if !ok {
		t.Fatalf("ballot %q: want COUNTER.NODE or 0", s)
	}
	counter, err := strconv.ParseUint(c, 10, 64)
	if err != nil {
		t.Fatalf("ballot %q: %v", s, err)
	}
	return paxos.Ballot{Counter: counter, Node: n}
}

// words parses "k=v" and bare "k" words of a line.
type words map[string]string

func parseWords(t testing.TB, fields []string) words {
	t.Helper()
	w := words{}
	for _, f := range fields {
		k, v, _ := strings.Cut(f, "=")
		if _, dup := w[k]; dup {
			t.Fatalf("%q given twice", k)
		}
		w[k] = v
	}
	return w
}

func (w words) has(k string) bool { _, ok := w[k]; return ok }

func (w words) uint(t testing.TB, k string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(w[k], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", k, w[k], err)
	}
	return v
}

func (w words) int(t testing.TB, k string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(w[k], 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", k, w[k], err)
	}
	return v
}

// stateOf builds a plain register state from value=, version= and deleted.
func stateOf(t testing.TB, w words) paxos.State {
	t.Helper()
	var s paxos.State
	if w.has("value") {
		s.Exists, s.Value = true, []byte(w["value"])
	}
	if w.has("version") {
		s.Version = w.uint(t, "version")
	}
	return s
}

func printState(s paxos.State) string {
	var b strings.Builder
	switch {
	case s.Exists:
		fmt.Fprintf(&b, "value=%q", s.Value)
	case s.Version > 0:
		b.WriteString("no-value")
	default:
		b.WriteString("absent")
	}
	fmt.Fprintf(&b, " version=%d", s.Version)
	if len(s.Fences) > 0 {
		fs := make([]string, len(s.Fences))
		for i, f := range s.Fences {
			fs[i] = fmt.Sprintf("%s:%d", f.Lock, f.Token)
		}
		fmt.Fprintf(&b, " fences=%s", strings.Join(fs, ","))
	}
	if l := s.Lock; l.Held || l.Token > 0 {
		b.WriteString(" lock=" + printLock(l))
	}
	if len(s.Recent) > 0 {
		rs := make([]string, len(s.Recent))
		for i, r := range s.Recent {
			rs[i] = fmt.Sprintf("%s@%d", r.ID, r.Version)
			if r.Token > 0 {
				rs[i] += fmt.Sprintf("#%d", r.Token)
			}
		}
		fmt.Fprintf(&b, " recent=%s", strings.Join(rs, ","))
	}
	return b.String()
}

func printLock(l paxos.Lock) string {
	if !l.Held {
		return fmt.Sprintf("{free token=%d}", l.Token)
	}
	return fmt.Sprintf("{held by=%s op=%s token=%d ttl=%d renewals=%d}", l.Holder, l.HolderOp, l.Token, l.TTLms, l.Renewals)
}

var outcomeNames = map[paxos.Outcome]string{
	paxos.Applied:         "applied",
	paxos.ConditionFailed: "condition-failed",
	paxos.Fenced:          "fenced",
	paxos.NotANumber:      "not-a-number",
	paxos.Held:            "held",
	paxos.NotHolder:       "not-holder",
}

func printResult(r paxos.Result) string {
	var b strings.Builder
	b.WriteString(outcomeNames[r.Outcome])
	if r.Deduplicated {
		b.WriteString(" dedup")
	}
	switch {
	case r.Exists:
		fmt.Fprintf(&b, " value=%q", r.Value)
	default:
		b.WriteString(" no-value")
	}
	fmt.Fprintf(&b, " version=%d", r.Version)
	if r.Lock.Held || r.Lock.Token > 0 {
		b.WriteString(" lock=" + printLock(r.Lock))
	}
	if r.FenceSeen > 0 {
		fmt.Fprintf(&b, " fence-seen=%d", r.FenceSeen)
	}
	return b.String()
}

var opKinds = map[string]paxos.OpKind{
	"get": paxos.OpGet, "set": paxos.OpSet, "delete": paxos.OpDelete, "incr": paxos.OpIncrement,
	"acquire": paxos.OpAcquire, "takeover": paxos.OpTakeover, "renew": paxos.OpRenew, "release": paxos.OpRelease,
}

// parseOp reads "KIND [id=ID] [value=V] [if-version=N] [if-absent] [by=N]
// [fence=LOCK:TOKEN] [holder=H] [ttl=MS] [token=T] [renewals=R]".
func parseOp(t testing.TB, line string) paxos.Op {
	t.Helper()
	f := strings.Fields(line)
	if len(f) == 0 {
		t.Fatalf("empty op line")
	}
	kind, ok := opKinds[f[0]]
	if !ok {
		t.Fatalf("unknown op %q", f[0])
	}
	w := parseWords(t, f[1:])
	op := paxos.Op{Kind: kind, Holder: w["holder"]}
	if w.has("id") {
		op.ID = []byte(w["id"])
	}
	if w.has("value") {
		op.Value = []byte(w["value"])
	}
	if w.has("if-version") {
		op.HasVersion, op.Version = true, w.uint(t, "if-version")
	}
	op.ExpectAbsent = w.has("if-absent")
	if w.has("by") {
		op.By = w.int(t, "by")
	}
	if w.has("fence") {
		l, tok, ok := strings.Cut(w["fence"], ":")
		n, err := strconv.ParseUint(tok, 10, 64)
		if !ok || err != nil {
			t.Fatalf("fence=%q: want LOCK:TOKEN", w["fence"])
		}
		op.Fence = paxos.Fence{Lock: l, Token: n}
	}
	if w.has("ttl") {
		op.TTLms = uint32(w.uint(t, "ttl"))
	}
	if w.has("token") {
		op.Token = w.uint(t, "token")
	}
	if w.has("renewals") {
		op.Renewals = w.uint(t, "renewals")
	}
	return op
}
