package node_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/serial"
)

// memAcceptors are every node's acceptors in memory, shared by the
// cluster's proposers: the edge (services, forwarding, outcome mapping)
// tested on its own.
type memAcceptors struct {
	mu   sync.Mutex
	recs map[string]map[string]paxos.Record
}

func newMemAcceptors() *memAcceptors {
	return &memAcceptors{recs: map[string]map[string]paxos.Record{}}
}

func memKey(t serial.Target) string { return string(append([]byte{t.Kind}, t.Key...)) }

func (m *memAcceptors) Prepare(_ context.Context, node string, t serial.Target, b paxos.Ballot, done func(paxos.PrepareReply, error)) {
	m.mu.Lock()
	if m.recs[node] == nil {
		m.recs[node] = map[string]paxos.Record{}
	}
	next, rep, _ := paxos.Prepare(m.recs[node][memKey(t)], paxos.Ballot{}, b)
	m.recs[node][memKey(t)] = next
	m.mu.Unlock()
	done(rep, nil)
}

func (m *memAcceptors) Accept(_ context.Context, node string, t serial.Target, b paxos.Ballot, st paxos.State, promise paxos.Ballot, done func(paxos.AcceptReply, error)) {
	m.mu.Lock()
	if m.recs[node] == nil {
		m.recs[node] = map[string]paxos.Record{}
	}
	next, rep, _ := paxos.Accept(m.recs[node][memKey(t)], paxos.Ballot{}, b, st, promise)
	m.recs[node][memKey(t)] = next
	m.mu.Unlock()
	done(rep, nil)
}

// startMemSerial starts three nodes whose proposers share memAcceptors
// (links still obey the cluster's faults).
func startMemSerial(t *testing.T) *nodetest.Cluster {
	mem := newMemAcceptors()
	return nodetest.Start(t, 3, nodetest.Options{Acceptors: func(string) serial.Acceptors { return mem }})
}

func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st, _ := status.FromError(err)
	got := ""
	if info := api.ErrorInfo(st); info != nil {
		got = info.GetReason()
	}
	if st.Code() != code || got != reason {
		t.Fatalf("error %v (reason %q): want %v %q", err, got, code, reason)
	}
}

func TestSerialEdgeForwardsAndMapsOutcomes(t *testing.T) {
	c := startMemSerial(t)
	ctx := ctxT(t)
	key := []byte("edge")
	prefs := c.Preference(key)
	other := c.Serial(prefs[1])

	res, err := other.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: key, Value: []byte("v1"), Expect: &api.CompareAndSetRequest_ExpectAbsent{ExpectAbsent: true}})
	if err != nil || !res.GetApplied() || res.GetVersion() != 1 {
		t.Fatalf("cas: %v, %v", res, err)
	}
	if got := res.GetReceipt().GetProposer(); got != prefs[0] {
		t.Errorf("proposer %s, want the preferred %s (forwarded)", got, prefs[0])
	}
	res, err = other.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: key, Value: []byte("v2"), Expect: &api.CompareAndSetRequest_ExpectVersion{ExpectVersion: 9}})
	if err != nil || res.GetApplied() || res.GetVersion() != 1 || string(res.GetValue()) != "v1" {
		t.Fatalf("cas at a wrong version: %v, %v: want not applied, the current v1 at 1", res, err)
	}
	if g, err := c.Serial(prefs[2]).Get(ctx, &api.SerialGetRequest{Key: key}); err != nil || !g.GetFound() || string(g.GetValue()) != "v1" || g.GetApplied() {
		t.Fatalf("get: %v, %v", g, err)
	}

	// Fencing: a newer token's write, then an older one's refused.
	fk := []byte("fenced")
	if _, err := other.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: fk, Value: []byte("a"), Fence: &api.Fence{Lock: "L", Token: 5}}); err != nil {
		t.Fatal(err)
	}
	_, err = other.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: fk, Value: []byte("b"), Fence: &api.Fence{Lock: "L", Token: 4}})
	wantReason(t, err, codes.FailedPrecondition, api.ReasonFenced)

	// Increment: counts; a value that is not a number is refused.
	for i := range 3 {
		r, err := other.Increment(ctx, &api.IncrementRequest{Key: []byte("ctr")})
		if err != nil || string(r.GetValue()) != string(rune('1'+i)) {
			t.Fatalf("increment %d: %v, %v", i, r, err)
		}
	}
	_, err = other.Increment(ctx, &api.IncrementRequest{Key: key})
	wantReason(t, err, codes.FailedPrecondition, api.ReasonNotANumber)

	// Delete with a version, then the register is absent.
	d, err := other.Delete(ctx, &api.SerialDeleteRequest{Key: key, Expect: &api.SerialDeleteRequest_ExpectVersion{ExpectVersion: 1}})
	if err != nil || !d.GetApplied() || d.GetFound() || d.GetVersion() != 2 {
		t.Fatalf("delete: %v, %v", d, err)
	}

	// A retry with the same op id answers the first attempt.
	id := []byte("retry-me")
	r1, err := other.Increment(ctx, &api.IncrementRequest{Key: []byte("ctr"), OpId: id})
	if err != nil {
		t.Fatal(err)
	}
	r2, err := other.Increment(ctx, &api.IncrementRequest{Key: []byte("ctr"), OpId: id})
	if err != nil || !r2.GetDeduplicated() || r2.GetVersion() != r1.GetVersion() {
		t.Fatalf("retry: %v, %v: want the first attempt's answer (version %d)", r2, err, r1.GetVersion())
	}
}

func TestSerialEdgeRefusesBadInput(t *testing.T) {
	c := startMemSerial(t)
	ctx := ctxT(t)
	s, l := c.Serial("n1"), c.Locks("n1")
	for name, call := range map[string]func() error{
		"empty key": func() error { _, err := s.Get(ctx, &api.SerialGetRequest{}); return err },
		"long key":  func() error { _, err := s.Get(ctx, &api.SerialGetRequest{Key: make([]byte, 2048)}); return err },
		"big value": func() error {
			_, err := s.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: []byte("k"), Value: make([]byte, 1<<20)})
			return err
		},
		"long op id": func() error {
			_, err := s.Increment(ctx, &api.IncrementRequest{Key: []byte("k"), OpId: make([]byte, 33)})
			return err
		},
		"fence lock": func() error {
			_, err := s.Increment(ctx, &api.IncrementRequest{Key: []byte("k"), Fence: &api.Fence{}})
			return err
		},
		"lock name": func() error { _, err := l.Describe(ctx, &api.DescribeLockRequest{}); return err },
		"holder":    func() error { _, err := l.Acquire(ctx, &api.AcquireRequest{Name: "x", TtlMs: 100}); return err },
		"ttl":       func() error { _, err := l.Acquire(ctx, &api.AcquireRequest{Name: "x", Holder: "h"}); return err },
	} {
		if err := call(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want INVALID_ARGUMENT", name, err)
		}
	}
}

func TestLocksEdge(t *testing.T) {
	c := startMemSerial(t)
	ctx := ctxT(t)
	name := "leader"
	prefs := c.Preference([]byte(name))
	l := c.Locks(prefs[2])
	a, err := l.Acquire(ctx, &api.AcquireRequest{Name: name, Holder: "A", TtlMs: 60000})
	if err != nil || !a.GetAcquired() || a.GetToken() != 1 || a.GetHeldBy() != "A" {
		t.Fatalf("acquire: %v, %v", a, err)
	}
	b, err := l.Acquire(ctx, &api.AcquireRequest{Name: name, Holder: "B", TtlMs: 1000})
	if err != nil || b.GetAcquired() || b.GetHeldBy() != "A" || b.GetRetryAfterMs() == 0 {
		t.Fatalf("contender: %v, %v: want refused, held by A, a retry_after", b, err)
	}
	if r, err := l.Renew(ctx, &api.RenewRequest{Name: name, Token: 1}); err != nil || !r.GetAcquired() || r.GetRenewals() != 1 {
		t.Fatalf("renew: %v, %v", r, err)
	}
	if r, err := l.Release(ctx, &api.ReleaseRequest{Name: name, Token: 7}); err != nil || r.GetAcquired() || !r.GetHeld() {
		t.Fatalf("release with a wrong token: %v, %v: want refused, still held", r, err)
	}
	if r, err := l.Release(ctx, &api.ReleaseRequest{Name: name, Token: 1}); err != nil || !r.GetAcquired() || r.GetHeld() {
		t.Fatalf("release: %v, %v", r, err)
	}
	d, err := c.Locks(prefs[0]).Describe(ctx, &api.DescribeLockRequest{Name: name})
	if err != nil || d.GetHeld() || d.GetToken() != 1 {
		t.Fatalf("describe: %v, %v: want free, last token 1", d, err)
	}
	st, err := c.Client(prefs[0]).NodeStatus(ctx)
	if err != nil || st.GetSerial().GetRounds() == 0 {
		t.Fatalf("node status: %v, %v: want the proposer's rounds counted", st, err)
	}
	if !strings.Contains(d.GetReceipt().GetProposer(), prefs[0]) {
		t.Errorf("describe ran on %q, want the preferred %s", d.GetReceipt().GetProposer(), prefs[0])
	}
}

// A node that cannot reach the key's preferred proposer runs the request
// itself (any node may propose), within the deadline whether the link
// refuses or hangs.
func TestSerialEdgeRunsLocallyWhenThePreferredIsUnreachable(t *testing.T) {
	c := startMemSerial(t)
	ctx := ctxT(t)
	for _, mode := range []nodetest.Mode{nodetest.Refuse, nodetest.Hang} {
		key := []byte(fmt.Sprintf("unreachable-%d", mode))
		prefs := c.Preference(key)
		c.Faults.Cut(prefs[1], prefs[0], mode)
		const deadline = 2 * time.Second
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, deadline)
		res, err := c.Serial(prefs[1]).Increment(cctx, &api.IncrementRequest{Key: key})
		cancel()
		if err != nil || res.GetReceipt().GetProposer() != prefs[1] || string(res.GetValue()) != "1" {
			t.Fatalf("mode %d: %v, %v: want applied by %s itself", mode, res, err, prefs[1])
		}
		if took := time.Since(start); took > deadline {
			t.Errorf("mode %d: answered after %v", mode, took)
		}
		c.Faults.Heal()
	}
}
