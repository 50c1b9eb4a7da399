package client

import (
	"context"
	"fmt"

	"github.com/quorumkv/quorumkv/api"
)

// SerialResult is a register's state after a request: found, its value and
// its version (the number of changes applied to it, writes and deletes; 0
// when never written), whether the request changed it, and how the
// proposer decided it.
type SerialResult struct {
	Key     []byte
	Found   bool
	Value   []byte
	Version uint64
	// Applied: the change was made (always false for SerialGet).
	Applied bool
	// Deduplicated: an earlier try with the same op id applied the change;
	// this is that try's answer.
	Deduplicated bool
	FastPath     bool   // the round skipped the prepare phase (1 round trip)
	Rounds       int    // Paxos rounds the proposer ran
	Proposer     string // the node that ran the round
}

func serialResult(r *api.SerialResponse) *SerialResult {
	rc := r.GetReceipt()
	return &SerialResult{
		Key: r.GetKey(), Found: r.GetFound(), Value: r.GetValue(), Version: r.GetVersion(),
		Applied: r.GetApplied(), Deduplicated: r.GetDeduplicated(),
		FastPath: rc.GetFastPath(), Rounds: int(rc.GetRounds()), Proposer: rc.GetProposer(),
	}
}

// Condition is what a register change requires of the register's current
// state. The zero value is no condition (the change is unconditional).
type Condition struct {
	version    uint64
	hasVersion bool
	absent     bool
}

// ExpectVersion requires the register's version to be v (0: never
// written).
func ExpectVersion(v uint64) Condition { return Condition{version: v, hasVersion: true} }

// ExpectAbsent requires the register to hold no value (never written, or
// deleted).
func ExpectAbsent() Condition { return Condition{absent: true} }

// SerialOption configures one register change.
type SerialOption func(*serialCall)

type serialCall struct {
	fence *api.Fence
	opID  []byte
}

// WithFence fences the change with a lock's token: the register refuses it
// (*FencedError) once it has seen a newer token of the same lock, and
// otherwise records the token.
func WithFence(lock string, token uint64) SerialOption {
	return func(c *serialCall) { c.fence = &api.Fence{Lock: lock, Token: token} }
}

// WithOpID names the change (at most 32 bytes). By default each call makes
// 16 random bytes, reused by the client's own retries; pass the same id to
// retry a change that ended with ErrOutcomeUnknown so it applies at most
// once.
func WithOpID(id []byte) SerialOption { return func(c *serialCall) { c.opID = id } }

func newSerialCall(opts []SerialOption) (*serialCall, error) {
	c := &serialCall{}
	for _, o := range opts {
		o(c)
	}
	if c.opID == nil {
		c.opID = newOpID()
	}
	return c, checkOpID(c.opID)
}

// SerialGet reads a register linearizably. An absent register is not an
// error: Found is false and Version says how many changes it has seen.
func (c *Client) SerialGet(ctx context.Context, key []byte) (*SerialResult, error) {
	req := &api.SerialGetRequest{Key: key}
	return c.serial(ctx, key, true, func(ctx context.Context, s api.SerialClient) (*api.SerialResponse, error) {
		return s.Get(ctx, req)
	})
}

// CompareAndSet sets the register to value if cond holds. When it does not,
// it returns the register's current state and ErrConditionFailed (nothing
// changed). Other outcomes: *FencedError (ErrFenced), *UnavailableError
// (nothing applied), ErrOutcomeUnknown (it may have applied; retry with the
// same WithOpID).
func (c *Client) CompareAndSet(ctx context.Context, key, value []byte, cond Condition, opts ...SerialOption) (*SerialResult, error) {
	call, err := newSerialCall(opts)
	if err != nil {
		return nil, err
	}
	req := &api.CompareAndSetRequest{Key: key, Value: value, Fence: call.fence, OpId: call.opID}
	switch {
	case cond.absent:
		req.Expect = &api.CompareAndSetRequest_ExpectAbsent{ExpectAbsent: true}
	case cond.hasVersion:
		req.Expect = &api.CompareAndSetRequest_ExpectVersion{ExpectVersion: cond.version}
	}
	// Each try sends a request of its own: an earlier try's may still be
	// on its way out on the endpoint's stream.
	return c.serialChange(ctx, key, func(ctx context.Context, s api.SerialClient) (*api.SerialResponse, error) {
		return s.CompareAndSet(ctx, &api.CompareAndSetRequest{Key: req.Key, Value: req.Value, Fence: req.Fence, OpId: req.OpId,
			Expect: req.Expect, Retry: isRetry(ctx)})
	})
}

// SerialDelete writes a tombstone if cond holds (ExpectVersion or none;
// ExpectAbsent is refused as ErrInvalidArgument). The register is then
// absent, its version one higher. Outcomes as for CompareAndSet.
func (c *Client) SerialDelete(ctx context.Context, key []byte, cond Condition, opts ...SerialOption) (*SerialResult, error) {
	if cond.absent {
		return nil, fmt.Errorf("%w: a delete cannot expect an absent register", ErrInvalidArgument)
	}
	call, err := newSerialCall(opts)
	if err != nil {
		return nil, err
	}
	req := &api.SerialDeleteRequest{Key: key, Fence: call.fence, OpId: call.opID}
	if cond.hasVersion {
		req.Expect = &api.SerialDeleteRequest_ExpectVersion{ExpectVersion: cond.version}
	}
	return c.serialChange(ctx, key, func(ctx context.Context, s api.SerialClient) (*api.SerialResponse, error) {
		return s.Delete(ctx, &api.SerialDeleteRequest{Key: req.Key, Fence: req.Fence, OpId: req.OpId, Expect: req.Expect, Retry: isRetry(ctx)})
	})
}

// Increment adds by to the register's value, a decimal integer (an absent
// register counts as 0; by 0 counts as 1), and stores the sum as a decimal
// string. A value that is not a decimal integer, or a sum that overflows,
// fails with ErrNotANumber. Other outcomes as for CompareAndSet.
func (c *Client) Increment(ctx context.Context, key []byte, by int64, opts ...SerialOption) (*SerialResult, error) {
	call, err := newSerialCall(opts)
	if err != nil {
		return nil, err
	}
	return c.serialChange(ctx, key, func(ctx context.Context, s api.SerialClient) (*api.SerialResponse, error) {
		return s.Increment(ctx, &api.IncrementRequest{Key: key, By: by, Fence: call.fence, OpId: call.opID, Retry: isRetry(ctx)})
	})
}

// serialChange runs a register change: a change that was not applied is
// ErrConditionFailed, with the register's current state.
func (c *Client) serialChange(ctx context.Context, key []byte, rpc func(context.Context, api.SerialClient) (*api.SerialResponse, error)) (*SerialResult, error) {
	res, err := c.serial(ctx, key, false, rpc)
	if err != nil {
		return nil, err
	}
	if !res.Applied {
		return res, fmt.Errorf("register %q at version %d: %w", key, res.Version, ErrConditionFailed)
	}
	return res, nil
}

func (c *Client) serial(ctx context.Context, key []byte, read bool, rpc func(context.Context, api.SerialClient) (*api.SerialResponse, error)) (*SerialResult, error) {
	var resp *api.SerialResponse
	err := c.serialDo(ctx, key, read, 0, func(ctx context.Context, e endpoint) (err error) {
		resp, err = rpc(ctx, e.serial)
		if err == nil && !read && !resp.GetApplied() && !resp.GetDeduplicated() && !resp.GetSettled() {
			return errNotApplied
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return serialResult(resp), nil
}
