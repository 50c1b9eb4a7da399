package client

// TEMPORARY (branch i16-bench only): placeholders with the Go client API of
// the registers and locks contract, so the benchmark builds before the real
// client lands. Every call fails with a *ServerError of code Unimplemented. Delete this file
// when merging the real client.

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
)

var (
	ErrConditionFailed = errors.New("condition not met")
	ErrOutcomeUnknown  = errors.New("outcome unknown")
)

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
	version    uint64
	hasVersion bool
	absent     bool
}

func ExpectVersion(v uint64) Condition { return Condition{version: v, hasVersion: true} }
func ExpectAbsent() Condition          { return Condition{absent: true} }

type serialCall struct{}

type SerialOption func(*serialCall)

var errStubUnimplemented = &ServerError{Code: codes.Unimplemented, Message: "registers: client not merged yet"}

func (c *Client) SerialGet(context.Context, []byte) (*SerialResult, error) {
	return nil, errStubUnimplemented
}

func (c *Client) CompareAndSet(context.Context, []byte, []byte, Condition, ...SerialOption) (*SerialResult, error) {
	return nil, errStubUnimplemented
}

func (c *Client) Increment(context.Context, []byte, int64, ...SerialOption) (*SerialResult, error) {
	return nil, errStubUnimplemented
}

type lockCall struct{}

type LockOption func(*lockCall)

type Lease struct {
	name  string
	token uint64
	ttl   time.Duration
}

func (c *Client) Acquire(context.Context, string, string, time.Duration, ...LockOption) (*Lease, error) {
	return nil, errStubUnimplemented
}

func (l *Lease) Name() string                  { return l.name }
func (l *Lease) Token() uint64                 { return l.token }
func (l *Lease) TTL() time.Duration            { return l.ttl }
func (l *Lease) Context() context.Context      { return context.Background() }
func (l *Lease) Release(context.Context) error { return errStubUnimplemented }
