package client

import (
	"cmp"
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
)

// ErrNodeQuiet: a try gave up on an endpoint that had answered nothing for
// Responsiveness.GiveUpAfter. Like a timeout, it says nothing about whether
// a write ran: the node may still apply it when it resumes.
var ErrNodeQuiet = errors.New("node went quiet")

// quietError is ErrNodeQuiet as the status of a try: DEADLINE_EXCEEDED, so
// nodeFailure treats it as the timeout it is (a read goes elsewhere, a
// write is not sent again).
type quietError struct{ after time.Duration }

func (e quietError) Error() string {
	return ErrNodeQuiet.Error() + ": no answer for " + e.after.String()
}
func (e quietError) Unwrap() []error { return []error{ErrNodeQuiet, context.DeadlineExceeded} }
func (e quietError) GRPCStatus() *status.Status {
	return status.New(codes.DeadlineExceeded, e.Error())
}

// hedgeSlice is the precision of hedge delays (they share timers).
const hedgeSlice = 5 * time.Millisecond

// attempt is one try of an operation on one endpoint.
type attempt struct {
	e      endpoint
	ctx    context.Context // bounded by the attempt timeout
	cancel context.CancelFunc
	start  time.Time
	op     *muxOp
	quiet  chan struct{} // closed by the endpoint's health when the try should give up
}

// begin sends op to e. An error means the op was never queued (the try
// is over).
func (c *Client) begin(ctx context.Context, e endpoint, op *api.StreamOp) (*attempt, error) {
	a := &attempt{e: e, start: time.Now(), quiet: make(chan struct{})}
	a.ctx, a.cancel = context.WithTimeout(ctx, c.opts.attemptTimeout)
	o, err := e.mux.start(a.ctx, op)
	if err != nil {
		a.cancel()
		return nil, err
	}
	a.op = o
	e.h.waitOn(a)
	return a, nil
}

// end closes the try (the operation stays outstanding on the endpoint
// until the node answers it or its stream breaks).
func (a *attempt) end() {
	a.cancel()
	a.e.h.stopWaiting(a)
}

// outcome is how one wait of run ended.
type outcome struct {
	a   *attempt
	res *api.StreamResult
	err error
}

// wait waits for the first of up to two tries to end: an answer, its
// attempt timeout (or the caller's context), or its endpoint going quiet.
// hedge fires when a get should also be sent to the next endpoint.
func wait(a, b *attempt, hedge <-chan struct{}) (o outcome, hedged bool) {
	var bDone <-chan muxResult
	var bCtx <-chan struct{}
	var bQuiet chan struct{}
	if b != nil {
		bDone, bCtx, bQuiet = b.op.done, b.ctx.Done(), b.quiet
	}
	select {
	case r := <-a.op.done:
		return result(a, r), false
	case r := <-bDone:
		return result(b, r), false
	case <-a.ctx.Done():
		return timedOut(a), false
	case <-bCtx:
		return timedOut(b), false
	case <-a.quiet:
		return gaveUp(a), false
	case <-bQuiet:
		return gaveUp(b), false
	case <-hedge:
		return outcome{}, true
	}
}

func result(a *attempt, r muxResult) outcome {
	res, err := r.unpack()
	return outcome{a: a, res: res, err: err}
}

func timedOut(a *attempt) outcome {
	a.e.mux.checkStale()
	return outcome{a: a, err: status.FromContextError(a.ctx.Err()).Err()}
}

func gaveUp(a *attempt) outcome {
	return outcome{a: a, err: quietError{after: time.Since(a.start).Round(time.Millisecond)}}
}

// run sends an operation to route's endpoints, in order: to the next one
// when a try fails as the node's own failure (nodeFailure; a write only
// when it cannot have run), and, for a get with hedging on, also when the
// try in flight has not answered after its endpoint's hedge delay. At most
// two tries are in flight; the first answer that is not a node failure
// wins and the other try is cancelled.
func (c *Client) run(ctx context.Context, route []endpoint, read bool, mk func() *api.StreamOp) (*api.StreamResult, error) {
	var inflight []*attempt
	defer func() {
		for _, a := range inflight {
			a.end()
		}
	}()
	var err, definite error // the last failure; the last that was not the node's own
	next := 0
	// launch starts a try on the next endpoint; false when none is left.
	launch := func() bool {
		for next < len(route) {
			e := route[next]
			next++
			a, berr := c.begin(ctx, e, mk())
			if berr == nil {
				inflight = append(inflight, a)
				return true
			}
			err = nodeErr(e, berr, read)
			if !nodeFailure(berr, read) || ctx.Err() != nil {
				return false
			}
			c.markDown(e.addr)
		}
		return false
	}
	hedging := read && c.hedging()
	var hedge <-chan struct{}
	var stopHedge context.CancelFunc = func() {}
	defer func() { stopHedge() }()
	for {
		if len(inflight) == 0 && (definite != nil || !launch()) {
			return nil, cmp.Or(definite, err, ErrNoEndpoints)
		}
		if hedging && hedge == nil && len(inflight) == 1 && next < len(route) {
			var hctx context.Context
			hctx, stopHedge = c.hedgeTimers.WithTimeout(inflight[0].e.h.hedgeDelay())
			hedge = hctx.Done()
		}
		var b *attempt
		if len(inflight) > 1 {
			b = inflight[1]
		}
		o, hedged := wait(inflight[0], b, hedge)
		if hedged {
			hedging = false // one hedge per operation
			hedge = nil
			launch()
			continue
		}
		inflight = remove(inflight, o.a)
		o.a.end()
		if o.err == nil {
			return o.res, nil
		}
		err = nodeErr(o.a.e, o.err, read)
		if ctx.Err() != nil {
			return nil, err
		}
		if !nodeFailure(o.err, read) {
			definite = err // the other try, if any, may still succeed
			continue
		}
		if !errors.Is(o.err, ErrNodeQuiet) {
			c.markDown(o.a.e.addr)
		}
	}
}

// nodeErr names the endpoint in a try's error when the failure was the
// node's own (it could not be reached, failed, or went quiet); an answer the
// node gave as a coordinator (a failed quorum, a refused request) stays as
// it is.
func nodeErr(e endpoint, err error, read bool) error {
	if nodeFailure(err, read) || errors.Is(err, ErrNodeQuiet) {
		return &NodeError{Endpoint: e.addr, Err: err}
	}
	return err
}

func remove(as []*attempt, a *attempt) []*attempt {
	out := as[:0]
	for _, x := range as {
		if x != a {
			out = append(out, x)
		}
	}
	return out
}
