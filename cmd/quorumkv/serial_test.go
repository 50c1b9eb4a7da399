package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/api/apitest"
)

// cliFake is a node serving quorumkv.v1.Serial and quorumkv.v1.Locks on
// loopback for the serial and lock commands: answer decides every reply,
// and the requests are kept.
type cliFake struct {
	api.UnimplementedSerialServer
	api.UnimplementedLocksServer
	addr string

	mu     sync.Mutex
	reqs   []proto.Message
	answer func(req proto.Message) (proto.Message, error)
}

func startCLIFake(t *testing.T) *cliFake {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Not a plain host:port: the CLI sends its stream as the KV.Stream RPC,
	// which the fake serves, instead of the framed connection.
	f := &cliFake{addr: "passthrough:///" + l.Addr().String()}
	srv := grpc.NewServer()
	api.RegisterSerialServer(srv, f)
	api.RegisterLocksServer(srv, f)
	apitest.RegisterStream(srv, f, f)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return f
}

func (f *cliFake) set(answer func(req proto.Message) (proto.Message, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answer, f.reqs = answer, nil
}

func (f *cliFake) requests() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.reqs...)
}

func (f *cliFake) serve(req proto.Message) (proto.Message, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	a := f.answer
	f.mu.Unlock()
	return a(req)
}

func serialReply(m proto.Message, err error) (*api.SerialResponse, error) {
	if err != nil {
		return nil, err
	}
	return m.(*api.SerialResponse), nil
}

func lockReply(m proto.Message, err error) (*api.LockResponse, error) {
	if err != nil {
		return nil, err
	}
	return m.(*api.LockResponse), nil
}

func (f *cliFake) Get(_ context.Context, r *api.SerialGetRequest) (*api.SerialResponse, error) {
	return serialReply(f.serve(r))
}

func (f *cliFake) CompareAndSet(_ context.Context, r *api.CompareAndSetRequest) (*api.SerialResponse, error) {
	return serialReply(f.serve(r))
}

func (f *cliFake) Delete(_ context.Context, r *api.SerialDeleteRequest) (*api.SerialResponse, error) {
	return serialReply(f.serve(r))
}

func (f *cliFake) Increment(_ context.Context, r *api.IncrementRequest) (*api.SerialResponse, error) {
	return serialReply(f.serve(r))
}

func (f *cliFake) Acquire(_ context.Context, r *api.AcquireRequest) (*api.LockResponse, error) {
	return lockReply(f.serve(r))
}

func (f *cliFake) Renew(_ context.Context, r *api.RenewRequest) (*api.LockResponse, error) {
	return lockReply(f.serve(r))
}

func (f *cliFake) Release(_ context.Context, r *api.ReleaseRequest) (*api.LockResponse, error) {
	return lockReply(f.serve(r))
}

func (f *cliFake) Describe(_ context.Context, r *api.DescribeLockRequest) (*api.LockResponse, error) {
	return lockReply(f.serve(r))
}

func reply(m proto.Message) func(proto.Message) (proto.Message, error) {
	return func(proto.Message) (proto.Message, error) { return m, nil }
}

func failWith(code codes.Code, reason string, md ...string) func(proto.Message) (proto.Message, error) {
	info := &errdetails.ErrorInfo{Domain: api.Domain, Reason: reason, Metadata: map[string]string{}}
	for i := 0; i+1 < len(md); i += 2 {
		info.Metadata[md[i]] = md[i+1]
	}
	st, err := status.New(code, strings.ToLower(reason)).WithDetails(info)
	if err != nil {
		panic(err)
	}
	return func(proto.Message) (proto.Message, error) { return nil, st.Err() }
}

// runJSON runs a command with -o json against addr and decodes its stdout
// (nil when it printed nothing).
func runJSON(t *testing.T, addr string, args ...string) (int, map[string]any, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append(args, "--endpoints", addr, "--timeout", "5s", "-o", "json"), &out, &errOut)
	var got map[string]any
	if out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: stdout %q is not JSON: %v", args, out.String(), err)
		}
	}
	return code, got, errOut.String()
}

// wantJSON checks the keys of a command's JSON (numbers compare as
// float64) and that it has no others.
func wantJSON(t *testing.T, args []string, got map[string]any, want map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%v: JSON %v, want keys of %v", args, got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%v: JSON %s = %v (%T), want %v", args, k, got[k], got[k], v)
		}
	}
}

var (
	stateK4 = &api.SerialResponse{Key: []byte("k"), Found: true, Value: []byte("cur"), Version: 4}
	grant   = &api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 3000, HeldBy: "me"}
	heldBy  = &api.LockResponse{Name: "L", Held: true, Token: 9, TtlMs: 1000, HeldBy: "other", RetryAfterMs: 250}
)

// TestSerialCommands: each serial and lock command against a fake node:
// its JSON and exit code for an applied change, a failed condition, no
// quorum, an unknown outcome, a fenced write and a lock held by another.
func TestSerialCommands(t *testing.T) {
	f := startCLIFake(t)
	for _, tc := range []struct {
		name   string
		args   []string
		answer func(proto.Message) (proto.Message, error)
		code   int
		json   map[string]any // nil: no stdout
		stderr string         // part of the Error: line
	}{
		{"put applied", []string{"serial", "put", "k", "v", "--expect-absent"},
			reply(&api.SerialResponse{Key: []byte("k"), Applied: true, Found: true, Value: []byte("v"), Version: 1}), exitOK,
			map[string]any{"key": "k", "applied": true, "version": 1.0, "value": "v"}, ""},
		{"put condition failed", []string{"serial", "put", "k", "v", "--expect-version", "3"},
			reply(stateK4), exitNotApplied,
			map[string]any{"key": "k", "applied": false, "version": 4.0, "value": "cur"}, "condition not met"},
		{"put unavailable", []string{"serial", "put", "k", "v"},
			failWith(codes.Unavailable, api.ReasonQuorumUnavailable, "required", "2", "acknowledged", "1", "op", "write"), exitUnavailable, nil, ""},
		{"put contended", []string{"serial", "put", "k", "v"},
			failWith(codes.Aborted, api.ReasonContended), exitUnavailable, nil, ""},
		{"put unknown", []string{"serial", "put", "k", "v"},
			failWith(codes.Unavailable, api.ReasonOutcomeUnknown), exitOutcomeUnknown, nil, "may have applied"},
		{"put fenced", []string{"serial", "put", "k", "v", "--fence", "L:3"},
			failWith(codes.FailedPrecondition, api.ReasonFenced, "lock", "L", "token", "3", "seen", "5"), exitNotApplied, nil, "older than token 5"},
		{"get found", []string{"serial", "get", "k"},
			reply(stateK4), exitOK, map[string]any{"key": "k", "found": true, "value": "cur", "version": 4.0}, ""},
		{"get absent", []string{"serial", "get", "k"},
			reply(&api.SerialResponse{Key: []byte("k"), Version: 2}), exitNotFound,
			map[string]any{"key": "k", "found": false, "value": "", "version": 2.0}, "not found"},
		{"delete applied", []string{"serial", "delete", "k", "--expect-version", "4"},
			reply(&api.SerialResponse{Key: []byte("k"), Applied: true, Version: 5}), exitOK,
			map[string]any{"key": "k", "applied": true, "version": 5.0, "value": ""}, ""},
		{"incr applied", []string{"serial", "incr", "n", "--by", "-2"},
			reply(&api.SerialResponse{Key: []byte("n"), Applied: true, Found: true, Value: []byte("40"), Version: 7}), exitOK,
			map[string]any{"key": "n", "applied": true, "version": 7.0, "value": "40"}, ""},
		{"incr not a number", []string{"serial", "incr", "n"},
			failWith(codes.FailedPrecondition, api.ReasonNotANumber), exitNotApplied, nil, "not a decimal integer"},
		{"acquire", []string{"lock", "acquire", "L", "--holder", "me", "--ttl", "3s"},
			reply(grant), exitOK, map[string]any{"name": "L", "acquired": true, "token": 7.0, "ttl_ms": 3000.0, "held_by": "me"}, ""},
		{"acquire held", []string{"lock", "acquire", "L", "--holder", "me", "--ttl", "3s"},
			reply(heldBy), exitNotApplied,
			map[string]any{"name": "L", "acquired": false, "token": 9.0, "ttl_ms": 0.0, "held_by": "other", "retry_after_ms": 250.0}, `held by "other"`},
		{"acquire unknown", []string{"lock", "acquire", "L", "--holder", "me", "--ttl", "3s"},
			failWith(codes.DeadlineExceeded, api.ReasonOutcomeUnknown), exitOutcomeUnknown, nil, "outcome unknown"},
		{"renew", []string{"lock", "renew", "L", "--token", "7"},
			reply(&api.LockResponse{Name: "L", Acquired: true, Held: true, Token: 7, TtlMs: 3000, HeldBy: "me", Renewals: 1}), exitOK,
			map[string]any{"name": "L", "applied": true, "held": true, "held_by": "me", "token": 7.0, "ttl_ms": 3000.0, "renewals": 1.0}, ""},
		{"renew lost", []string{"lock", "renew", "L", "--token", "7"},
			reply(heldBy), exitNotApplied,
			map[string]any{"name": "L", "applied": false, "held": true, "held_by": "other", "token": 9.0, "ttl_ms": 1000.0, "renewals": 0.0}, "lock lost"},
		{"release", []string{"lock", "release", "L", "--token", "7"},
			reply(&api.LockResponse{Name: "L", Acquired: true, Token: 7}), exitOK,
			map[string]any{"name": "L", "applied": true, "held": false, "held_by": "", "token": 7.0, "ttl_ms": 0.0, "renewals": 0.0}, ""},
		{"release unavailable", []string{"lock", "release", "L", "--token", "7"},
			failWith(codes.Unavailable, api.ReasonQuorumUnavailable, "required", "2", "acknowledged", "1"), exitUnavailable, nil, ""},
		{"describe", []string{"lock", "describe", "L"},
			reply(&api.LockResponse{Name: "L", Held: true, Token: 7, TtlMs: 3000, HeldBy: "me", Renewals: 2}), exitOK,
			map[string]any{"name": "L", "held": true, "held_by": "me", "token": 7.0, "ttl_ms": 3000.0, "renewals": 2.0}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.set(tc.answer)
			code, got, stderr := runJSON(t, f.addr, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if tc.json == nil && got != nil {
				t.Fatalf("stdout %v, want none", got)
			}
			if tc.json != nil {
				wantJSON(t, tc.args, got, tc.json)
			}
			if (code == exitOK) != (stderr == "") || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("stderr %q, want an Error: line containing %q", stderr, tc.stderr)
			}
		})
	}
}

// TestSerialCommandRequests: the flags reach the wire: the condition, the
// fence, the increment, the lock's holder, ttl and wait.
func TestSerialCommandRequests(t *testing.T) {
	f := startCLIFake(t)
	f.set(reply(&api.SerialResponse{Key: []byte("k"), Applied: true}))
	if code, _, stderr := runJSON(t, f.addr, "serial", "put", "k", "v", "--expect-version", "0", "--fence", "jobs:lock:12"); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	cas := f.requests()[0].(*api.CompareAndSetRequest)
	if _, ok := cas.GetExpect().(*api.CompareAndSetRequest_ExpectVersion); !ok || cas.GetExpectVersion() != 0 ||
		cas.GetFence().GetLock() != "jobs:lock" || cas.GetFence().GetToken() != 12 || string(cas.GetValue()) != "v" || len(cas.GetOpId()) == 0 {
		t.Fatalf("put request %v", cas)
	}
	f.set(reply(&api.SerialResponse{Key: []byte("k"), Applied: true}))
	if code, _, _ := runJSON(t, f.addr, "serial", "put", "k", "v"); code != exitOK || f.requests()[0].(*api.CompareAndSetRequest).GetExpect() != nil {
		t.Fatalf("an unconditional put: exit %d, %v", code, f.requests())
	}
	f.set(reply(&api.SerialResponse{Key: []byte("n"), Applied: true}))
	if code, _, _ := runJSON(t, f.addr, "serial", "incr", "n"); code != exitOK || f.requests()[0].(*api.IncrementRequest).GetBy() != 1 {
		t.Fatalf("incr: exit %d, %v", code, f.requests())
	}
	f.set(reply(grant))
	if code, _, _ := runJSON(t, f.addr, "lock", "acquire", "L", "--holder", "me", "--ttl", "10s", "--wait", "1500ms"); code != exitOK {
		t.Fatalf("acquire: exit %d", code)
	}
	acq := f.requests()[0].(*api.AcquireRequest)
	if acq.GetName() != "L" || acq.GetHolder() != "me" || acq.GetTtlMs() != 10000 || acq.GetWaitMs() != 1500 {
		t.Fatalf("acquire request %v", acq)
	}
}

// TestSerialNothingSent: a change no node could be sent exits 3 (definite:
// nothing applied).
func TestSerialNothingSent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, args := range [][]string{
		{"serial", "put", "k", "v"},
		{"serial", "incr", "k"},
		{"lock", "acquire", "L", "--holder", "me", "--ttl", "1s"},
	} {
		code, got, stderr := runJSON(t, addr, args...)
		if code != exitUnavailable || got != nil || !strings.Contains(stderr, "nothing applied") {
			t.Errorf("%v: exit %d, stdout %v, stderr %q", args, code, got, stderr)
		}
	}
}

// TestSerialTextOutput: without -o json the commands print a short line.
func TestSerialTextOutput(t *testing.T) {
	f := startCLIFake(t)
	for _, tc := range []struct {
		args   []string
		answer func(proto.Message) (proto.Message, error)
		want   string
	}{
		{[]string{"serial", "get", "k"}, reply(stateK4), "value    cur\nversion  4\n"},
		{[]string{"serial", "put", "k", "v"}, reply(&api.SerialResponse{Applied: true, Found: true, Value: []byte("v"), Version: 5}), "ok  version 5, value v\n"},
		{[]string{"serial", "put", "k", "v", "--expect-absent"}, reply(stateK4), "not applied  version 4, value cur\n"},
		{[]string{"serial", "delete", "k"}, reply(&api.SerialResponse{Applied: true, Version: 6}), "ok  version 6, absent\n"},
		{[]string{"lock", "acquire", "L", "--holder", "me", "--ttl", "3s"}, reply(grant), "acquired  token 7, ttl 3s\n"},
		{[]string{"lock", "acquire", "L", "--holder", "me", "--ttl", "3s"}, reply(heldBy), "held  by other, token 9 (retry after 250ms)\n"},
		{[]string{"lock", "release", "L", "--token", "7"}, reply(&api.LockResponse{Acquired: true, Token: 7}), "released  token 7\n"},
		{[]string{"lock", "describe", "L"}, reply(&api.LockResponse{Token: 8}), "free  last token 8\n"},
	} {
		f.set(tc.answer)
		var out, errOut bytes.Buffer
		run(append(tc.args, "--endpoints", f.addr), &out, &errOut)
		if out.String() != tc.want {
			t.Errorf("%v: %q, want %q (stderr %q)", tc.args, out.String(), tc.want, errOut.String())
		}
	}
}
