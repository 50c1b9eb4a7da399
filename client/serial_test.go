package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// fails answers every request with err.
func fails(err error) func(string, proto.Message) (proto.Message, error) {
	return func(string, proto.Message) (proto.Message, error) { return nil, err }
}

// TestSerialErrorMapping: every reason a register or lock request can fail
// with comes back as the client's typed error, with its metadata.
func TestSerialErrorMapping(t *testing.T) {
	f := startSerialFake(t, &serialFake{}, nil)
	c := serialClient(t, nil, f)
	ctx := testCtx(t)
	cas := func() error {
		_, err := c.CompareAndSet(ctx, []byte("k"), []byte("v"), ExpectVersion(3))
		return err
	}
	for _, tc := range []struct {
		name  string
		err   error
		check func(t *testing.T, err error)
	}{
		{"QUORUM_UNAVAILABLE", reasonErr(codes.Unavailable, api.ReasonQuorumUnavailable, "required", "2", "acknowledged", "1", "op", "write"),
			func(t *testing.T, err error) {
				var ue *UnavailableError
				if !errors.As(err, &ue) || ue.Required != 2 || ue.Acknowledged != 1 || ue.Contended || errors.Is(err, ErrOutcomeUnknown) {
					t.Fatalf("%v (%#v), want a definite *UnavailableError 2/1", err, ue)
				}
			}},
		{"CONTENDED", reasonErr(codes.Aborted, api.ReasonContended),
			func(t *testing.T, err error) {
				var ue *UnavailableError
				if !errors.As(err, &ue) || !ue.Contended || errors.Is(err, ErrOutcomeUnknown) {
					t.Fatalf("%v, want a definite *UnavailableError with Contended", err)
				}
			}},
		{"OUTCOME_UNKNOWN", reasonErr(codes.Unavailable, api.ReasonOutcomeUnknown),
			func(t *testing.T, err error) {
				var ue *UnavailableError
				if !errors.Is(err, ErrOutcomeUnknown) || errors.As(err, &ue) {
					t.Fatalf("%v, want ErrOutcomeUnknown", err)
				}
			}},
		{"OUTCOME_UNKNOWN as a deadline", reasonErr(codes.DeadlineExceeded, api.ReasonOutcomeUnknown),
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrOutcomeUnknown) {
					t.Fatalf("%v, want ErrOutcomeUnknown", err)
				}
			}},
		{"FENCED", reasonErr(codes.FailedPrecondition, api.ReasonFenced, "lock", "L", "token", "3", "seen", "5"),
			func(t *testing.T, err error) {
				var fe *FencedError
				if !errors.Is(err, ErrFenced) || !errors.As(err, &fe) || fe.Lock != "L" || fe.Token != 3 || fe.Seen != 5 || errors.Is(err, ErrConditionFailed) {
					t.Fatalf("%v (%#v), want *FencedError L 3 < 5", err, fe)
				}
			}},
		{"NOT_A_NUMBER", reasonErr(codes.FailedPrecondition, api.ReasonNotANumber),
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrNotANumber) {
					t.Fatalf("%v, want ErrNotANumber", err)
				}
			}},
		{"INVALID_ARGUMENT", status.Error(codes.InvalidArgument, "empty key"),
			func(t *testing.T, err error) {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("%v, want ErrInvalidArgument", err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.setHandle(fails(tc.err))
			tc.check(t, cas())
		})
	}

	t.Run("condition failed", func(t *testing.T) {
		f.setHandle(func(string, proto.Message) (proto.Message, error) {
			return &api.SerialResponse{Key: []byte("k"), Found: true, Value: []byte("cur"), Version: 4}, nil
		})
		res, err := c.CompareAndSet(ctx, []byte("k"), []byte("v"), ExpectVersion(3))
		if !errors.Is(err, ErrConditionFailed) || res == nil || string(res.Value) != "cur" || res.Version != 4 || res.Applied {
			t.Fatalf("%v, %+v: want ErrConditionFailed with the current state", err, res)
		}
	})
	t.Run("lock held", func(t *testing.T) {
		f.setHandle(func(string, proto.Message) (proto.Message, error) {
			return &api.LockResponse{Name: "L", Held: true, HeldBy: "other", Token: 9, TtlMs: 1000, RetryAfterMs: 250}, nil
		})
		l, err := c.Acquire(ctx, "L", "me", time.Second)
		var he *LockHeldError
		if l != nil || !errors.Is(err, ErrLockHeld) || !errors.Is(err, ErrConditionFailed) || !errors.As(err, &he) ||
			he.HeldBy != "other" || he.Token != 9 || he.RetryAfter != 250*time.Millisecond {
			t.Fatalf("%v (%#v), want *LockHeldError by other", err, he)
		}
	})
	t.Run("lock lost", func(t *testing.T) {
		f.setHandle(func(string, proto.Message) (proto.Message, error) {
			return &api.LockResponse{Name: "L", Held: true, HeldBy: "other", Token: 9}, nil
		})
		for _, op := range []func() (*LockInfo, error){
			func() (*LockInfo, error) { return c.RenewLock(ctx, "L", 8) },
			func() (*LockInfo, error) { return c.ReleaseLock(ctx, "L", 8) },
		} {
			info, err := op()
			if !errors.Is(err, ErrLockLost) || !errors.Is(err, ErrConditionFailed) || info == nil || info.HeldBy != "other" || info.Token != 9 {
				t.Fatalf("%v, %+v: want ErrLockLost with the holder", err, info)
			}
		}
	})
}

// TestSerialResultAndRequests: results carry the response and its receipt;
// requests carry the condition, the fence and an op id of 16 bytes (or the
// one given).
func TestSerialResultAndRequests(t *testing.T) {
	f := startSerialFake(t, &serialFake{}, nil)
	f.setHandle(func(method string, _ proto.Message) (proto.Message, error) {
		return &api.SerialResponse{Key: []byte("k"), Applied: method != "Get", Found: true, Value: []byte("42"), Version: 6,
			Deduplicated: true, Receipt: &api.SerialReceipt{Proposer: "n2", Rounds: 2, FastPath: true}}, nil
	})
	c := serialClient(t, nil, f)
	ctx := testCtx(t)
	res, err := c.Increment(ctx, []byte("k"), 5, WithFence("L", 3))
	want := &SerialResult{Key: []byte("k"), Found: true, Value: []byte("42"), Version: 6, Applied: true, Deduplicated: true,
		FastPath: true, Rounds: 2, Proposer: "n2"}
	if err != nil || !serialResultEqual(res, want) {
		t.Fatalf("increment: %v, %+v", err, res)
	}
	if _, err := c.CompareAndSet(ctx, []byte("k"), []byte("v"), ExpectAbsent(), WithOpID([]byte("mine"))); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SerialDelete(ctx, []byte("k"), ExpectVersion(0)); err != nil {
		t.Fatal(err)
	}
	if got, err := c.SerialGet(ctx, []byte("k")); err != nil || got.Applied || string(got.Value) != "42" {
		t.Fatalf("get: %v, %+v", err, got)
	}
	calls := f.received()
	if len(calls) != 4 {
		t.Fatalf("%d calls", len(calls))
	}
	inc := calls[0].req.(*api.IncrementRequest)
	if inc.GetBy() != 5 || inc.GetFence().GetLock() != "L" || inc.GetFence().GetToken() != 3 || len(inc.GetOpId()) != opIDSize {
		t.Fatalf("increment request %v", inc)
	}
	cas := calls[1].req.(*api.CompareAndSetRequest)
	if !cas.GetExpectAbsent() || calls[1].opID != "mine" || cas.GetFence() != nil {
		t.Fatalf("cas request %v", cas)
	}
	del := calls[2].req.(*api.SerialDeleteRequest)
	if _, ok := del.GetExpect().(*api.SerialDeleteRequest_ExpectVersion); !ok || del.GetExpectVersion() != 0 {
		t.Fatalf("delete request %v: want expect_version 0 set", del)
	}
	if _, err := c.SerialDelete(ctx, []byte("k"), ExpectAbsent()); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("delete expecting absent: %v", err)
	}
	if _, err := c.CompareAndSet(ctx, []byte("k"), nil, Condition{}, WithOpID(make([]byte, 33))); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("33-byte op id: %v", err)
	}
	if n := len(f.received()); n != 4 {
		t.Fatalf("refused requests were sent (%d calls)", n)
	}
}

func serialResultEqual(a, b *SerialResult) bool {
	return a != nil && string(a.Key) == string(b.Key) && a.Found == b.Found && string(a.Value) == string(b.Value) &&
		a.Version == b.Version && a.Applied == b.Applied && a.Deduplicated == b.Deduplicated &&
		a.FastPath == b.FastPath && a.Rounds == b.Rounds && a.Proposer == b.Proposer
}

// TestSerialRetrySameOpID: a change that may have run on one node (its
// connection failed after the request left) goes to the next with the same
// op id, as does one the proposer answered OUTCOME_UNKNOWN (to the
// proposer again); the answer of the retry is the outcome.
func TestSerialRetrySameOpID(t *testing.T) {
	t.Run("next endpoint after a lost answer", func(t *testing.T) {
		a := startSerialFake(t, &serialFake{}, nil)
		b := startSerialFake(t, &serialFake{}, nil)
		a.setHandle(fails(status.Error(codes.Unavailable, "connection reset")))
		c := serialClient(t, nil, a, b)
		res, err := c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), ExpectVersion(1))
		if err != nil || !res.Applied {
			t.Fatalf("%v, %+v", err, res)
		}
		ca, cb := a.received(), b.received()
		if len(ca) != 1 || len(cb) != 1 || ca[0].opID != cb[0].opID || len(ca[0].opID) != opIDSize {
			t.Fatalf("calls a %v, b %v: want one each with the same op id", ca, cb)
		}
	})
	t.Run("the proposer again after OUTCOME_UNKNOWN", func(t *testing.T) {
		a := startSerialFake(t, &serialFake{}, nil)
		b := startSerialFake(t, &serialFake{}, nil)
		n := 0
		a.setHandle(func(string, proto.Message) (proto.Message, error) {
			n++
			if n == 1 {
				return nil, reasonErr(codes.Unavailable, api.ReasonOutcomeUnknown)
			}
			return &api.SerialResponse{Key: []byte("k"), Applied: true, Found: true, Value: []byte("1"), Version: 1, Deduplicated: true}, nil
		})
		c := serialClient(t, nil, a, b)
		res, err := c.Increment(testCtx(t), []byte("k"), 1)
		if err != nil || !res.Deduplicated {
			t.Fatalf("%v, %+v", err, res)
		}
		ca := a.received()
		if len(ca) != 2 || ca[0].opID != ca[1].opID || b.count("Increment") != 0 {
			t.Fatalf("calls a %v, b %d: want two on a with the same op id", ca, b.count("Increment"))
		}
	})
}

// TestSerialRetryNotAppliedSettled: a change that may have run on one node
// and was then refused by the next (its condition failed) ends as a
// definite ErrConditionFailed only when the node says the refusal settles
// every try of the op id (settled); otherwise its outcome is unknown.
func TestSerialRetryNotAppliedSettled(t *testing.T) {
	for _, settled := range []bool{true, false} {
		t.Run(fmt.Sprintf("settled=%v", settled), func(t *testing.T) {
			a := startSerialFake(t, &serialFake{}, nil)
			b := startSerialFake(t, &serialFake{}, nil)
			a.setHandle(fails(status.Error(codes.Unavailable, "connection reset")))
			b.setHandle(func(string, proto.Message) (proto.Message, error) {
				return &api.SerialResponse{Key: []byte("k"), Found: true, Value: []byte("w"), Version: 3, Settled: settled}, nil
			})
			c := serialClient(t, nil, a, b)
			res, err := c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), ExpectVersion(1))
			if settled && (!errors.Is(err, ErrConditionFailed) || res == nil || res.Version != 3) {
				t.Fatalf("%v, %+v: want a definite ErrConditionFailed at version 3", err, res)
			}
			if !settled && !errors.Is(err, ErrOutcomeUnknown) {
				t.Fatalf("%v: want ErrOutcomeUnknown", err)
			}
			if cb := b.received(); len(cb) != 1 || !cb[0].req.(*api.CompareAndSetRequest).GetRetry() {
				t.Fatalf("calls on b %v: want one marked as a retry", cb)
			}
		})
	}
}

// TestSerialNoNodeIsDefinite: a change no endpoint could take (every dial
// refused) fails with a *NodeError, not ErrOutcomeUnknown: nothing was
// sent, so nothing applied.
func TestSerialNoNodeIsDefinite(t *testing.T) {
	for _, stream := range []bool{false, true} {
		opts := []Option{WithAttemptTimeout(time.Second), WithoutRouting()}
		if stream {
			opts = append(opts, WithGRPCStream())
		}
		c, err := New([]string{closedAddr(t)}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), ExpectVersion(1))
		var ne *NodeError
		if !errors.As(err, &ne) || errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("gRPC stream %v: %v (%T), want a definite *NodeError", stream, err, err)
		}
		_ = c.Close()
	}
}

// TestSerialLostTrySettledLater: a change whose only endpoint lost the
// connection after it was sent (it may have run) is sent again with the
// same op id after a pause, instead of ending ErrOutcomeUnknown at once;
// the node's later answer (here: applied by the first try) settles it.
func TestSerialLostTrySettledLater(t *testing.T) {
	a := startSerialFake(t, &serialFake{}, nil)
	n := 0
	a.setHandle(func(string, proto.Message) (proto.Message, error) {
		n++
		if n <= 2 {
			return nil, status.Error(codes.Unavailable, "connection reset")
		}
		return &api.SerialResponse{Key: []byte("k"), Applied: true, Found: true, Value: []byte("1"), Version: 1, Deduplicated: true}, nil
	})
	c := serialClient(t, nil, a)
	res, err := c.Increment(testCtx(t), []byte("k"), 1)
	if err != nil || !res.Deduplicated {
		t.Fatalf("%v, %+v: want the third try's answer", err, res)
	}
	ca := a.received()
	if len(ca) != 3 || ca[0].opID != ca[2].opID {
		t.Fatalf("calls %v: want three with the same op id", ca)
	}
}

// TestSerialOutcomeUnknown: a change whose every try may have run, or
// whose proposer keeps answering OUTCOME_UNKNOWN, ends ErrOutcomeUnknown
// (with the same op id on every try); so does one that met a failed
// quorum after a try that may have run (that try may still apply). A
// definite answer to the same op id after such a try stays definite.
func TestSerialOutcomeUnknown(t *testing.T) {
	lost := status.Error(codes.Unavailable, "connection reset")
	for _, tc := range []struct {
		name   string
		a, b   error
		wantIs error
	}{
		{"lost everywhere", lost, lost, ErrOutcomeUnknown},
		{"lost then a failed quorum", lost, reasonErr(codes.Unavailable, api.ReasonQuorumUnavailable, "required", "2", "acknowledged", "1"), ErrOutcomeUnknown},
		{"lost then contended", lost, reasonErr(codes.Aborted, api.ReasonContended), ErrOutcomeUnknown},
		{"unknown every time", reasonErr(codes.DeadlineExceeded, api.ReasonOutcomeUnknown), nil, ErrOutcomeUnknown},
		{"lost then fenced", lost, reasonErr(codes.FailedPrecondition, api.ReasonFenced, "lock", "L", "token", "1", "seen", "2"), ErrOutcomeUnknown},
		{"lost then invalid", lost, status.Error(codes.InvalidArgument, "bad"), ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startSerialFake(t, &serialFake{}, nil)
			b := startSerialFake(t, &serialFake{}, nil)
			a.setHandle(fails(tc.a))
			if tc.b != nil {
				b.setHandle(fails(tc.b))
			}
			c := serialClient(t, nil, a, b)
			_, err := c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), Condition{})
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("%v, want %v", err, tc.wantIs)
			}
			var ue *UnavailableError
			if tc.wantIs == ErrOutcomeUnknown && errors.As(err, &ue) {
				t.Fatalf("%v is also an *UnavailableError (definite)", err)
			}
			ids := map[string]bool{}
			for _, call := range append(a.received(), b.received()...) {
				ids[call.opID] = true
			}
			if len(ids) != 1 {
				t.Fatalf("%d op ids across the tries, want 1", len(ids))
			}
			if tc.b == nil && a.count("CompareAndSet") != 1+unknownRetries {
				t.Fatalf("%d tries on the proposer, want %d", a.count("CompareAndSet"), 1+unknownRetries)
			}
		})
	}
	t.Run("timeout", func(t *testing.T) {
		a := startSerialFake(t, &serialFake{}, nil)
		block := make(chan struct{})
		defer close(block)
		a.setHandle(func(string, proto.Message) (proto.Message, error) {
			<-block
			return nil, status.Error(codes.Canceled, "gone")
		})
		c, err := New([]string{a.addr}, WithAttemptTimeout(100*time.Millisecond), WithGRPCStream())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Increment(testCtx(t), []byte("k"), 1); !errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("%v, want ErrOutcomeUnknown after a timeout", err)
		}
	})
	t.Run("a read is not unknown", func(t *testing.T) {
		a := startSerialFake(t, &serialFake{}, nil)
		a.setHandle(fails(lost))
		c := serialClient(t, nil, a)
		if _, err := c.SerialGet(testCtx(t), []byte("k")); err == nil || errors.Is(err, ErrOutcomeUnknown) {
			t.Fatalf("get: %v, want a node error", err)
		}
	})
}

// TestSerialNotSentGoesNext: a node that cannot be reached (the request
// never left) is skipped; when none can be, the failure is definite (a
// *NodeError, not ErrOutcomeUnknown).
func TestSerialNotSentGoesNext(t *testing.T) {
	b := startSerialFake(t, &serialFake{}, nil)
	dead := &serialFake{addr: closedAddr(t)}
	c := serialClient(t, nil, dead, b)
	if _, err := c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), Condition{}); err != nil {
		t.Fatal(err)
	}
	if b.count("CompareAndSet") != 1 {
		t.Fatalf("b got %d", b.count("CompareAndSet"))
	}
	c2 := serialClient(t, nil, dead, &serialFake{addr: closedAddr(t)})
	_, err := c2.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), Condition{})
	var ne *NodeError
	if !errors.As(err, &ne) || errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("%v, want a definite *NodeError", err)
	}
	for _, f := range []error{
		reasonErr(codes.Unavailable, api.ReasonShuttingDown),
		reasonErr(codes.ResourceExhausted, api.ReasonOverloaded),
	} {
		a := startSerialFake(t, &serialFake{}, nil)
		a.setHandle(fails(f))
		b := startSerialFake(t, &serialFake{}, nil)
		c := serialClient(t, nil, a, b)
		if _, err := c.Acquire(testCtx(t), "L", "me", time.Second); err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if b.count("Acquire") != 1 {
			t.Fatalf("%v: not tried on b", f)
		}
		c.Close()
	}
}

// TestClassifyTry: what one failed try means for the next.
func TestClassifyTry(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want tryVerdict
	}{
		{sent.Wrap(status.Error(codes.Unavailable, "dial")), notRun},
		{sent.Wrap(status.Error(codes.DeadlineExceeded, "expired before sending")), notRun},
		{reasonErr(codes.Unavailable, api.ReasonShuttingDown), notRun},
		{reasonErr(codes.ResourceExhausted, api.ReasonOverloaded), notRun},
		{status.Error(codes.Unavailable, "reset"), mayHaveRun},
		{status.Error(codes.DeadlineExceeded, "timeout"), mayHaveRun},
		{status.Error(codes.Canceled, "cancelled"), mayHaveRun},
		{reasonErr(codes.Unavailable, api.ReasonOutcomeUnknown), unknownAnswer},
		{reasonErr(codes.DeadlineExceeded, api.ReasonOutcomeUnknown), unknownAnswer},
		{reasonErr(codes.Unavailable, api.ReasonQuorumUnavailable), answered},
		{reasonErr(codes.Aborted, api.ReasonContended), answered},
		{reasonErr(codes.FailedPrecondition, api.ReasonFenced), answered},
		{status.Error(codes.InvalidArgument, "bad"), answered},
		{status.Error(codes.Unimplemented, "no Serial"), answered},
	} {
		if got := classifyTry(tc.err); got != tc.want {
			t.Errorf("%v: %d, want %d", tc.err, got, tc.want)
		}
	}
}

// adminFake serves the ring of a cluster whose members are fakes.
type adminFake struct {
	api.UnimplementedAdminServer
	ring *api.RingStatusResponse
}

func (a *adminFake) RingStatus(context.Context, *api.RingStatusRequest) (*api.RingStatusResponse, error) {
	return a.ring, nil
}

// TestSerialGoesToPreferredProposer: a register change goes to the first
// replica of its key's partition, a lock request to the first of its
// name's; when that one cannot be reached, to the next replica.
func TestSerialGoesToPreferredProposer(t *testing.T) {
	st := &api.RingStatusResponse{Partitions: 16, Replicas: 3}
	admin := &adminFake{ring: st}
	byID := map[string]*serialFake{}
	var fakes []*serialFake
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		f := startSerialFake(t, &serialFake{}, admin)
		byID[id] = f
		fakes = append(fakes, f)
		st.Members = append(st.Members, &api.MemberStatus{Id: id, Address: f.addr, State: "valid"})
	}
	rg, _, err := ringFrom(st)
	if err != nil {
		t.Fatal(err)
	}
	c := serialClient(t, nil, fakes[3])
	ctx := testCtx(t)
	for i := range 20 {
		key := []byte("key-" + itoa(i))
		pref := rg.Preference(rg.Partition(key))
		before := byID[pref[0]].count("CompareAndSet")
		if _, err := c.CompareAndSet(ctx, key, []byte("v"), Condition{}); err != nil {
			t.Fatal(err)
		}
		if byID[pref[0]].count("CompareAndSet") != before+1 {
			t.Fatalf("%s did not go to its preferred proposer %s", key, pref[0])
		}
		name := "lock-" + itoa(i)
		lpref := rg.Preference(rg.Partition([]byte(name)))
		if _, err := c.DescribeLock(ctx, name); err != nil {
			t.Fatal(err)
		}
		if byID[lpref[0]].count("Describe") == 0 {
			t.Fatalf("lock %s did not go to %s", name, lpref[0])
		}
	}
	var order []string
	for _, e := range c.routeFor(ctx, []byte("key-0")) {
		order = append(order, e.addr)
	}
	pref := rg.Preference(rg.Partition([]byte("key-0")))
	var want []string
	for _, id := range pref {
		want = append(want, byID[id].addr)
	}
	if !slices.Equal(order[:len(want)], want) {
		t.Fatalf("route %v, want the replicas %v first", order, want)
	}
	byID[pref[0]].setHandle(fails(reasonErr(codes.Unavailable, api.ReasonShuttingDown)))
	before := byID[pref[1]].count("CompareAndSet")
	if _, err := c.CompareAndSet(ctx, []byte("key-0"), []byte("v"), Condition{}); err != nil {
		t.Fatal(err)
	}
	if byID[pref[1]].count("CompareAndSet") != before+1 {
		t.Fatalf("with %s shutting down, key-0 did not go to the next replica %s", pref[0], pref[1])
	}
}

// TestLeaseConfigValidate: ρ in [0, 1) and a margin of zero or more.
func TestLeaseConfigValidate(t *testing.T) {
	if err := DefaultLeaseConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []LeaseConfig{{Rho: -0.1}, {Rho: 1}, {Rho: 0.01, Margin: -time.Millisecond}} {
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: %v", cfg, err)
		}
	}
	if _, err := New([]string{"127.0.0.1:1"}, WithLeaseConfig(LeaseConfig{Rho: 2})); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New with ρ 2: %v", err)
	}
}

// TestLeaseValidity: the holder's validity is ttl·(1−ρ) − margin, and a
// ttl that leaves none past the first renewal, or that is not a positive
// whole number of milliseconds that fits the wire, is refused.
func TestLeaseValidity(t *testing.T) {
	cfg := LeaseConfig{Rho: 0.01, Margin: 10 * time.Millisecond}
	if got := cfg.validFor(3 * time.Second); got != 2960*time.Millisecond {
		t.Fatalf("validFor(3s) = %v, want 2.96s", got)
	}
	if got := renewEvery(3 * time.Second); got != time.Second {
		t.Fatalf("renewEvery(3s) = %v", got)
	}
	if ms, err := cfg.ttlMillis(1500*time.Millisecond + 700*time.Microsecond); err != nil || ms != 1500 {
		t.Fatalf("ttlMillis(1.5007s) = %d, %v", ms, err)
	}
	for _, ttl := range []time.Duration{0, -time.Second, 500 * time.Microsecond, 15 * time.Millisecond, 1 << 62} {
		if _, err := cfg.ttlMillis(ttl); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
}

// TestSerialNotAppliedAfterALostTryIsUnknown: a change whose first try was
// lost (it may have applied) and whose retry answers "not applied" without
// finding its id (the register may have forgotten it) is an unknown
// outcome, never a definite failed condition; a retry that finds its id
// answers as the first try did.
func TestSerialNotAppliedAfterALostTryIsUnknown(t *testing.T) {
	lost := status.Error(codes.Unavailable, "connection reset")
	for _, tc := range []struct {
		name   string
		resp   *api.SerialResponse
		wantIs error
	}{
		{"forgotten", &api.SerialResponse{Applied: false, Version: 9}, ErrOutcomeUnknown},
		{"remembered", &api.SerialResponse{Applied: true, Deduplicated: true, Version: 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startSerialFake(t, &serialFake{}, nil)
			b := startSerialFake(t, &serialFake{}, nil)
			a.setHandle(fails(lost))
			b.setHandle(func(string, proto.Message) (proto.Message, error) { return tc.resp, nil })
			c := serialClient(t, nil, a, b)
			_, err := c.CompareAndSet(testCtx(t), []byte("k"), []byte("v"), ExpectVersion(2))
			if !errors.Is(err, tc.wantIs) || (tc.wantIs == nil && err != nil) {
				t.Fatalf("%v, want %v", err, tc.wantIs)
			}
		})
	}
}
