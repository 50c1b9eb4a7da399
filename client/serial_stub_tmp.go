package client

// TEMPORARY stub of the register API (issue 16) so the fault harness builds
// before the real client lands; delete this file at merge.

import (
	"context"
	"errors"
)

var (
	ErrConditionFailed = errors.New("condition not met")
	ErrOutcomeUnknown  = errors.New("outcome unknown")
	ErrNotANumber      = errors.New("register value is not a decimal integer")
)

var errSerialStub = errors.New("serial API not implemented (stub)")

type SerialResult struct {
	Key          []byte
	Found        bool
	Value        []byte
	Version      uint64
	Applied      bool
	Deduplicated bool
	FastPath     bool
	Rounds       int
	Proposer     string
}

type Condition struct {
	version uint64
	kind    int
}

func ExpectVersion(v uint64) Condition { return Condition{version: v, kind: 1} }
func ExpectAbsent() Condition          { return Condition{kind: 2} }

type serialCall struct {
	opID  []byte
	lock  string
	token uint64
}

type SerialOption func(*serialCall)

func WithFence(lock string, token uint64) SerialOption {
	return func(c *serialCall) { c.lock, c.token = lock, token }
}
func WithOpID(id []byte) SerialOption { return func(c *serialCall) { c.opID = id } }

func (c *Client) SerialGet(ctx context.Context, key []byte) (*SerialResult, error) {
	return nil, errSerialStub
}
func (c *Client) CompareAndSet(ctx context.Context, key, value []byte, cond Condition, opts ...SerialOption) (*SerialResult, error) {
	return nil, errSerialStub
}
func (c *Client) SerialDelete(ctx context.Context, key []byte, cond Condition, opts ...SerialOption) (*SerialResult, error) {
	return nil, errSerialStub
}
func (c *Client) Increment(ctx context.Context, key []byte, by int64, opts ...SerialOption) (*SerialResult, error) {
	return nil, errSerialStub
}
