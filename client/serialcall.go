package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// Register and lock requests go to the key's preferred proposer, on the
// endpoint's stream (serialstream.go) or as unary calls, shaped alike: the first replica of the key's partition that is neither
// failing nor quiet (routeFor), then the other replicas and endpoints. A
// change carries an op id, the same on every try, so a register applies it
// at most once however often it is sent.

// opIDSize is the length of the op ids the client makes; maxOpIDSize the
// longest a node takes.
const (
	opIDSize    = 16
	maxOpIDSize = 32
)

// unknownRetries is how many times a change whose outcome is not known
// (the node answered OUTCOME_UNKNOWN, or every endpoint failed after a try
// that may have applied it) is sent again, with the same op id and while
// the caller's context lasts, before the client reports ErrOutcomeUnknown:
// a later try that finds the op id applied, or runs it, settles it.
// unknownGap is the pause before the first resend, doubling after each up
// to unknownMaxGap (about 2.6 s of pauses in all).
const (
	unknownRetries = 10
	unknownGap     = 10 * time.Millisecond
	unknownMaxGap  = 500 * time.Millisecond
)

// newOpID is a fresh random op id.
func newOpID() []byte {
	id := make([]byte, opIDSize)
	_, _ = rand.Read(id) // never fails (crypto/rand panics if the OS source does)
	return id
}

// checkOpID refuses an op id a node would refuse, before anything is sent.
func checkOpID(id []byte) error {
	if len(id) > maxOpIDSize {
		return fmt.Errorf("%w: op id of %d bytes (at most %d)", ErrInvalidArgument, len(id), maxOpIDSize)
	}
	return nil
}

// tryVerdict is what one failed try of a register or lock request means
// for the next.
type tryVerdict int

const (
	// answered: the node gave a definite answer (a refusal, a failed
	// quorum, contention); it is the request's outcome.
	answered tryVerdict = iota
	// notRun: the node's own failure before the request could have run
	// (never sent, shutting down, overloaded, disk full): try the next
	// endpoint.
	notRun
	// mayHaveRun: the request may have run (a timeout, a connection lost
	// after it was sent): try the next endpoint with the same op id.
	mayHaveRun
	// unknownAnswer: the proposer said OUTCOME_UNKNOWN (an accept was sent
	// and no quorum answered it): send it again with the same op id.
	unknownAnswer
)

// classifyTry sorts a failed try (a gRPC error) by tryVerdict. Only codes
// and typed reasons decide, never a message's text.
func classifyTry(err error) tryVerdict {
	if sent.Is(err) {
		return notRun
	}
	st, ok := status.FromError(err)
	if !ok {
		return answered
	}
	reason := api.ErrorInfo(st).GetReason()
	switch {
	case reason == api.ReasonOutcomeUnknown:
		return unknownAnswer
	case nodeFailure(err, false):
		return notRun
	case reason != "":
		return answered
	}
	switch st.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Internal, codes.Unknown:
		return mayHaveRun
	}
	return answered
}

// retryKey marks the context of a try that follows one that may have
// applied the change: the request says so (its retry field), and the
// register then does not apply a change it cannot tell was applied.
type retryKey struct{}

// isRetry reports a try after one that may have applied the change.
func isRetry(ctx context.Context) bool { v, _ := ctx.Value(retryKey{}).(bool); return v }

// errNotApplied is what a try of a change returns for an answer that it
// was not applied (a failed condition, a lock held or lost) that does not
// say an earlier try applied it: definite on a first try, unknown after a
// try that may have applied the change.
var errNotApplied = errors.New("not applied")

// serialTry runs a request once on one endpoint.
type serialTry func(ctx context.Context, e endpoint) error

// serialDo runs try on key's route (see routeFor). A read may be answered
// by any try; for a change (read false) the first failure that may have
// applied it makes every later failure ErrOutcomeUnknown, since the change
// may still apply. extra lengthens each try's timeout (an Acquire that
// waits for the lock).
func (c *Client) serialDo(ctx context.Context, key []byte, read bool, extra time.Duration, try serialTry) error {
	ambiguous := false // a try may have applied the change
	var last error
	gap := unknownGap
	for round := 0; ; round++ {
		again := false    // the proposer answered OUTCOME_UNKNOWN: start over
		exhausted := true // every endpoint failed as its own failure
	route:
		for _, e := range c.routeFor(ctx, key) {
			tctx, cancel := context.WithTimeout(ctx, c.opts.attemptTimeout+extra)
			if ambiguous {
				tctx = context.WithValue(tctx, retryKey{}, true)
			}
			err := try(tctx, e)
			cancel()
			if err == nil {
				return nil
			}
			if errors.Is(err, errNotApplied) {
				if ambiguous && !read {
					// An earlier try may have applied the change and the
					// register may no longer remember its id.
					return fmt.Errorf("%w: the change was not applied by the last try, and an earlier try may have applied it", ErrOutcomeUnknown)
				}
				return nil
			}
			switch classifyTry(err) {
			case answered:
				last = err
				exhausted = false
				break route
			case notRun:
				c.markDownUnless(ctx, e.addr)
				last = &NodeError{Endpoint: e.addr, Err: err}
			case mayHaveRun:
				c.markDownUnless(ctx, e.addr)
				ambiguous = true
				last = &NodeError{Endpoint: e.addr, Err: err}
			case unknownAnswer:
				ambiguous = true
				last = err
				again, exhausted = true, false
				break route
			}
			if ctx.Err() != nil {
				break
			}
		}
		// A change that may have applied is sent again once the route is
		// exhausted: the node that ran it, or another, may answer later.
		again = again || (exhausted && ambiguous && !read)
		if !again || round >= unknownRetries || !pause(ctx, gap) {
			break
		}
		gap = min(2*gap, unknownMaxGap)
	}
	if last == nil {
		last = ErrNoEndpoints
	}
	return serialOutcome(last, ambiguous && !read, ctx)
}

// serialOutcome is the error a register or lock request ends with: last,
// the final try's failure, as the client's typed error; ErrOutcomeUnknown
// instead when an earlier try of a change may have applied it and last
// does not settle it (a definite answer to the same op id does: the
// proposer either found it applied or ran a later round that excludes it).
func serialOutcome(last error, ambiguous bool, ctx context.Context) error {
	if ambiguous && !settles(last) {
		cause := last
		if ctx.Err() != nil {
			cause = ctx.Err()
		}
		return fmt.Errorf("%w (%v)", ErrOutcomeUnknown, finishedErr(cause))
	}
	return finishedErr(last)
}

// settles reports an answer that is definite even after a try that may
// have applied the same change: only invalid input. Failed quorums,
// contention and node failures do not (the earlier try's accept may still
// be chosen), nor do refusals after a round.
func settles(err error) bool {
	var ne *NodeError
	if errors.As(err, &ne) || classifyTry(err) != answered {
		return false
	}
	// Only a request that could never run settles it: a refusal after a
	// round (failed condition, fenced, not a number) answers the last try,
	// and the earlier try may have applied the change before the register
	// forgot its id.
	return status.Code(err) == codes.InvalidArgument
}

// finishedErr maps a try's gRPC failure to the client's typed errors.
func finishedErr(err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return &NodeError{Endpoint: ne.Endpoint, Err: fromStatus(ne.Err)}
	}
	return fromStatus(err)
}

// markDownUnless marks addr down after a try failed as the node's own
// failure, unless the caller's context ended it.
func (c *Client) markDownUnless(ctx context.Context, addr string) {
	if ctx.Err() == nil {
		c.markDown(addr)
	}
}

// pause waits d unless ctx ends first (false then).
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
