package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// The register workload (Config.Registers): linearizable registers
// (quorumkv.v1.Serial) under the same faults as the other workloads,
// checked with porcupine (register_check.go, register_model.go).
//
// Keys r-0 .. r-(RegisterKeys-1) get SerialGet, CompareAndSet with
// ExpectVersion (the version the worker last saw, now and then one off)
// and, less often, CompareAndSet with no condition, writing values 0-4;
// the counter key r-counter gets SerialGet and Increment by 1 or 2. Each
// key has workers of its own: RegisterWorkers per coordinator pinned to
// that node, and RoutedWorkers on the ring-aware client. Every operation's
// call and return are read from one monotonic clock in the harness
// process, and every key's operations are spread over the run so that a
// key gets at most RegisterOps of them.

// registerClient is what the register workload needs of a client
// (*client.Client has it).
type registerClient interface {
	SerialGet(ctx context.Context, key []byte) (*client.SerialResult, error)
	CompareAndSet(ctx context.Context, key, value []byte, cond client.Condition, opts ...client.SerialOption) (*client.SerialResult, error)
	Increment(ctx context.Context, key []byte, by int64, opts ...client.SerialOption) (*client.SerialResult, error)
}

// regExec runs one register operation on a client.
type regExec func(ctx context.Context, in regInput) (*client.SerialResult, error)

// clientExec runs register operations on c.
func clientExec(c registerClient) regExec {
	return func(ctx context.Context, in regInput) (*client.SerialResult, error) { return execRegister(ctx, c, in) }
}

// regSender sends one register operation through a worker's client (fn
// runs it with exec) and records it with the other requests; it returns
// errNotRun when the operation was not sent.
type regSender func(ctx context.Context, op, key string, fn func(ctx context.Context, exec regExec) (proposer string, err error)) error

// Register workload constants.
const (
	regCounterKey = "r-counter"
	regValues     = 5    // values written are "0" .. "4"
	regPutShare   = 0.1  // of the writes: CompareAndSet with no condition (they stay pending to the end when their outcome is unknown)
	regGetShare   = 0.4  // of a register key's operations
	regCounterGet = 0.3  // of the counter's operations
	regOffByOne   = 0.15 // of the cas: expect a version one off the last one seen
)

// registers is the register workload's state: what every worker recorded.
type registers struct {
	keys    []string // register keys, then the counter key
	start   time.Time
	think   time.Duration // mean pause between one worker's operations
	seed    uint64
	left    map[string]*atomic.Int64 // operations a key may still get
	clients atomic.Int64             // porcupine client ids handed out

	mu   sync.Mutex
	recs []regRecord
}

// newRegisters makes the workload for n register keys (plus the counter),
// each getting at most perKey operations from workersPerKey workers over
// a run of duration; think is the shortest mean pause between a worker's
// operations.
func newRegisters(n, perKey, workersPerKey int, duration, think time.Duration, seed uint64, start time.Time) *registers {
	rw := &registers{start: start, seed: seed, left: map[string]*atomic.Int64{}}
	for i := range n {
		rw.keys = append(rw.keys, fmt.Sprintf("r-%d", i))
	}
	rw.keys = append(rw.keys, regCounterKey)
	for _, k := range rw.keys {
		rw.left[k] = &atomic.Int64{}
		rw.left[k].Store(int64(perKey))
	}
	rw.think = think
	if perKey > 0 {
		rw.think = max(think, duration*time.Duration(max(workersPerKey, 1))/time.Duration(perKey))
	}
	return rw
}

// now is the harness's clock: time since the workloads started, monotonic.
func (rw *registers) now() time.Duration { return time.Since(rw.start) }

func (rw *registers) newClient() int { return int(rw.clients.Add(1) - 1) }

func (rw *registers) add(r regRecord) {
	rw.mu.Lock()
	rw.recs = append(rw.recs, r)
	rw.mu.Unlock()
}

// records is a copy of everything recorded so far.
func (rw *registers) records() []regRecord {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return append([]regRecord(nil), rw.recs...)
}

// draw picks a worker's next operation on key; version is the last one it
// saw there.
func (rw *registers) draw(r *rand.Rand, key string, version uint64) regInput {
	if key == regCounterKey {
		if r.Float64() < regCounterGet {
			return regInput{Key: key, Op: regGet}
		}
		return regInput{Key: key, Op: regIncr, By: 1 + int64(r.IntN(2))}
	}
	value := strconv.Itoa(r.IntN(regValues))
	switch x := r.Float64(); {
	case x < regGetShare:
		return regInput{Key: key, Op: regGet}
	case x < regGetShare+(1-regGetShare)*regPutShare:
		return regInput{Key: key, Op: regPut, Value: value}
	}
	expect := version
	if r.Float64() < regOffByOne {
		if r.IntN(2) == 0 && expect > 0 {
			expect--
		} else {
			expect++
		}
	}
	return regInput{Key: key, Op: regCAS, Expect: expect, Value: value}
}

// execRegister runs in on c.
func execRegister(ctx context.Context, c registerClient, in regInput) (*client.SerialResult, error) {
	key := []byte(in.Key)
	var opts []client.SerialOption
	if in.OpID != "" {
		opts = append(opts, client.WithOpID([]byte(in.OpID)))
	}
	switch in.Op {
	case regCAS:
		return c.CompareAndSet(ctx, key, []byte(in.Value), client.ExpectVersion(in.Expect), opts...)
	case regPut:
		return c.CompareAndSet(ctx, key, []byte(in.Value), client.Condition{}, opts...)
	case regIncr:
		return c.Increment(ctx, key, in.By, opts...)
	}
	return c.SerialGet(ctx, key)
}

// regOutcome sorts an operation's error: answered (nil, or a failed
// condition with the current state), a definite failure (nothing changed:
// unavailable or contended, refused as malformed or not a number, not
// implemented, never sent, no node could take it, or sent to a node that
// was down throughout), or
// unknown (everything else: the outcome
// may be applied now, later or never). class names it for the summary.
func regOutcome(res *client.SerialResult, err error) (answered, unknown bool, class string) {
	var ue *client.UnavailableError
	switch {
	case err == nil && res != nil && res.Deduplicated:
		// Applied by an earlier try; the answer carries that try's
		// version, not the state it left: an outcome whose output cannot
		// be checked (it may be linearized anywhere after its call).
		return false, true, "deduplicated"
	case err == nil && res != nil:
		return true, false, ""
	case errors.Is(err, client.ErrConditionFailed) && res != nil:
		return true, false, ""
	case errors.Is(err, client.ErrConditionFailed):
		return false, false, "condition_failed_without_state"
	case errors.As(err, new(*errNodeDown)):
		return false, false, "node_down"
	case errors.Is(err, client.ErrOutcomeUnknown):
		return false, true, "outcome_unknown"
	case errors.As(err, &ue):
		return false, false, classify(err)
	case errors.Is(err, client.ErrNotANumber):
		return false, false, "not_a_number"
	case errors.Is(err, client.ErrInvalidArgument):
		return false, false, "invalid_argument"
	case errors.Is(err, errNotRun):
		return false, false, "not_run"
	case sent.Is(err):
		return false, false, "not_sent"
	case err != nil && errCode(err) == codes.Unimplemented:
		return false, false, "unimplemented"
	case errors.As(err, new(*client.NodeError)):
		// The client reports a change that may have run on a node as
		// ErrOutcomeUnknown; a node failure left is one before anything
		// was sent (refused, not reachable, shutting down): definite.
		return false, false, "node_unreachable"
	case err == nil:
		return false, true, "no_result"
	}
	return false, true, classify(err)
}

// opOutcome is regOutcome for an operation of kind op: a read that got no
// answer changed nothing (its accept keeps the state and the version), so
// it is a failed read, never an unknown outcome, and leaves the history.
func opOutcome(op string, res *client.SerialResult, err error) (answered, unknown bool, class string) {
	answered, unknown, class = regOutcome(res, err)
	if op == regGet && unknown {
		unknown = false
	}
	return answered, unknown, class
}

// run is one register worker on key: it sends through send (pinned to a
// node, or the ring-aware client; where names it) until ctx is done or the
// key's operations are used up. After an unknown outcome it goes on as a
// new porcupine client.
func (rw *registers) run(ctx context.Context, key string, worker int, where string, send regSender) {
	h := uint64(0)
	for _, c := range key + "/" + where {
		h = h*31 + uint64(c)
	}
	r := rand.New(rand.NewPCG(rw.seed, h<<8|uint64(worker)))
	id := rw.newClient()
	var version uint64
	for seq := 0; ctx.Err() == nil && rw.left[key].Add(-1) >= 0; seq++ {
		in := rw.draw(r, key, version)
		if in.Op != regGet {
			in.OpID = fmt.Sprintf("%s/%s/%d/%d", key, where, worker, seq)
		}
		rec := regRecord{in: in, where: where}
		sentIt := false
		err := send(ctx, in.Op, key, func(ctx context.Context, exec regExec) (string, error) {
			sentIt = true
			rec.call = rw.now()
			res, err := exec(ctx, in)
			rec.ret = rw.now()
			answered, unknown, class := opOutcome(in.Op, res, err)
			rec.failed, rec.out.Unknown, rec.class = !answered && !unknown, unknown, class
			rec.noteAnswer(res, err)
			if answered {
				// A failed condition applied nothing, whatever the result says.
				applied := res.Applied && !errors.Is(err, client.ErrConditionFailed)
				rec.out = regOutput{Applied: applied, Found: res.Found, Value: string(res.Value), Version: res.Version}
			}
			if res != nil {
				return res.Proposer, err
			}
			return "", err
		})
		if !sentIt || errors.Is(err, errNotRun) {
			return
		}
		rec.client = id
		rw.add(rec)
		switch {
		case rec.out.Unknown:
			id = rw.newClient()
		case !rec.failed:
			version = rec.out.Version
		}
		if !sleep(ctx, rw.think/2+time.Duration(r.Int64N(int64(rw.think)+1))) {
			return
		}
	}
}

// finalReads reads every key once more after the final heal (up to tries
// times each, until one is answered); the answers join the history, so an
// acknowledged change lost by then shows.
func (rw *registers) finalReads(ctx context.Context, exec regExec, timeout time.Duration, tries int) int {
	n := 0
	for _, key := range rw.keys {
		for try := 0; try < tries && ctx.Err() == nil; try++ {
			in := regInput{Key: key, Op: regGet}
			rec := regRecord{client: rw.newClient(), in: in, where: "final"}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			rec.call = rw.now()
			res, err := exec(cctx, in)
			rec.ret = rw.now()
			cancel()
			answered, unknown, class := opOutcome(in.Op, res, err)
			rec.failed, rec.out.Unknown, rec.class = !answered && !unknown, unknown, class
			rec.noteAnswer(res, err)
			if answered {
				rec.out = regOutput{Found: res.Found, Value: string(res.Value), Version: res.Version}
			}
			rw.add(rec)
			if answered {
				n++
				break
			}
			if !sleep(ctx, 500*time.Millisecond) {
				break
			}
		}
	}
	return n
}

// errNodeDown: a pinned request failed while its node had no process from
// before the call to after the return: it cannot have run (a definite
// failure, whatever the client made of the refused connection).
type errNodeDown struct{ err error }

func (e *errNodeDown) Error() string { return "node down throughout: " + e.err.Error() }
func (e *errNodeDown) Unwrap() error { return e.err }

// regSender sends through node's pinned client (node < 0: the ring-aware
// one) and records the request with the others (workload "register").
// A pinned request that failed while the node had no process all along
// fails with errNodeDown.
func (w *workloads) regSender(node int) regSender {
	return func(ctx context.Context, op, key string, fn func(ctx context.Context, exec regExec) (string, error)) error {
		return w.do(ctx, "register", op, key, node, func(ctx context.Context, c *client.Client) (*client.Info, error) {
			exec := clientExec(c)
			if node >= 0 {
				p := w.c.procs[node]
				inner := exec
				exec = func(ctx context.Context, in regInput) (*client.SerialResult, error) {
					down0, starts0 := p.down()
					res, err := inner(ctx, in)
					down1, starts1 := p.down()
					if err != nil && down0 && down1 && starts0 == starts1 {
						err = &errNodeDown{err}
					}
					return res, err
				}
			}
			proposer, err := fn(ctx, exec)
			if proposer == "" {
				return nil, err
			}
			return &client.Info{Coordinator: proposer}, err
		})
	}
}
