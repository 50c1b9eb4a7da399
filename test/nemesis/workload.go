package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
)

// opRecord is one client request as the harness saw it.
type opRecord struct {
	workload, op string
	key          string
	node         int
	at           time.Duration // start, since the workloads started
	lat          time.Duration
	class        string // "" when it succeeded, else the failure class
	// coordinator is the node that coordinated a request that succeeded,
	// as its answer says ("" for a failure): it tells a routed request
	// that waited on a frozen coordinator from one a healthy coordinator
	// was slow to answer.
	coordinator  string
	errText      string
	fault        *faultSnap
	healedDuring bool // the fault in force changed while it ran
}

// classify names an error's kind for failures_by_kind. A register's
// failed condition is an answer (the current state), not a failure.
func classify(err error) string {
	if err == nil || errors.Is(err, client.ErrNotFound) || errors.Is(err, client.ErrConditionFailed) {
		return ""
	}
	var ue *client.UnavailableError
	var ts *client.TooManySiblingsError
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		return "outcome_unknown"
	case errors.Is(err, client.ErrNotANumber):
		return "not_a_number"
	case errors.As(err, &ue):
		return "unavailable_" + ue.Op
	case errors.As(err, &ts):
		return "too_many_siblings"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, client.ErrInvalidArgument):
		return "invalid_argument"
	}
	// A node's own failure: *client.ServerError carries the gRPC code (older
	// clients returned the gRPC status itself).
	code, ok := codes.Unknown, false
	var se *client.ServerError
	if errors.As(err, &se) {
		code, ok = se.Code, true
	} else if st, isStatus := status.FromError(err); isStatus {
		code, ok = st.Code(), true
	}
	if ok {
		if code == codes.Unavailable {
			return "node_unreachable"
		}
		return "grpc_" + strings.ToLower(code.String())
	}
	return "other"
}

// --- the model: what was attempted and what was acknowledged ---

type uniqueKey struct {
	value    string
	acked    bool          // false: the write failed and may or may not have happened
	ackedAt  time.Duration // when it was acknowledged (since the workloads started)
	replicas []string      // the nodes that acknowledged it, as the coordinator said
}

// ackedKey is an acknowledged unique key.
type ackedKey struct {
	key, value string
	at         time.Duration
	replicas   []string
}

// ackedUniqueBefore lists the unique keys acknowledged before t.
func (m *model) ackedUniqueBefore(t time.Duration) []ackedKey {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ackedKey
	for k, u := range m.unique {
		if u.acked && u.ackedAt < t {
			out = append(out, ackedKey{key: k, value: u.value, at: u.ackedAt, replicas: u.replicas})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

type setKey struct {
	attempted map[string]bool // every element some put carried
	acked     map[string]bool // elements of acknowledged puts
	adds      int
}

// delKey is a delete chain: put v1, delete with the put's context, put v2
// with the delete's context, delete, put v3, ... Every step but the last
// was acknowledged: a failed step (it may or may not have happened) ends
// the chain.
type delKey struct {
	ops []delOp
}

// delOp is one step of a delete chain.
type delOp struct {
	put   bool   // a put of value, else a delete
	value string // the put's value
	acked bool   // false: failed, may or may not have happened
}

type model struct {
	mu     sync.Mutex
	unique map[string]*uniqueKey
	sets   map[string]*setKey
	dels   map[string]*delKey

	// Anomalies seen while the workloads ran (reads of values never written,
	// results holding a deleted value).
	inRunUnexpected  []string // examples
	unexpectedInRun  int
	resurrectedInRun int
	staleReads       int
}

// noteInRun keeps an example of an anomaly seen during the run (m.mu held).
func (m *model) noteInRun(format string, args ...any) {
	if len(m.inRunUnexpected) < 100 {
		m.inRunUnexpected = append(m.inRunUnexpected, fmt.Sprintf(format, args...))
	}
}

// steps describes a delete chain: "put v1 ok, delete ok, put v2 failed".
func (d *delKey) steps() string {
	var parts []string
	for _, o := range d.ops {
		s := "delete"
		if o.put {
			s = "put " + o.value[strings.LastIndexByte(o.value, '=')+1:]
		}
		if o.acked {
			s += " ok"
		} else {
			s += " failed"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func newModel() *model {
	return &model{unique: map[string]*uniqueKey{}, sets: map[string]*setKey{}, dels: map[string]*delKey{}}
}

func (m *model) anomaly(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.unexpectedInRun++
	if len(m.inRunUnexpected) < 100 {
		m.inRunUnexpected = append(m.inRunUnexpected, fmt.Sprintf(format, args...))
	}
}

// Set values are sorted, comma-separated element lists.
func encodeSet(elems map[string]bool) []byte {
	out := make([]string, 0, len(elems))
	for e := range elems {
		out = append(out, e)
	}
	sort.Strings(out)
	return []byte(strings.Join(out, ","))
}

func decodeSet(v []byte) []string {
	if len(v) == 0 {
		return nil
	}
	return strings.Split(string(v), ",")
}

// --- workers ---

type workloads struct {
	c    *cluster
	nem  *nemesis
	m    *model
	seed uint64
	// delGap is a long pause of the delete chains (past the tombstone
	// grace in the short-grace profile: re-creates after a reap).
	delGap   time.Duration
	delSteps int   // steps of every delete chain (0: drawn)
	coords   []int // the nodes clients send requests to
	timeout  time.Duration
	think    time.Duration
	maxKeys  int
	setKeys  int
	setLimit int
	start    time.Time

	mu  sync.Mutex
	ops []opRecord
}

// errNotRun: the request was not sent (the run ended while its node was
// out of the ring).
var errNotRun = errors.New("not sent: the run ended while the node was out of the ring")

// do runs one request against node and records it. A worker pinned to a
// slot that is not a ring member (a spare) waits, sending and recording
// nothing, until it is one again.
func (w *workloads) do(ctx context.Context, workload, op, key string, node int, fn func(ctx context.Context, c *client.Client) (*client.Info, error)) error {
	if node >= 0 {
		for !w.c.procs[node].isMember() {
			if !sleep(ctx, 50*time.Millisecond) {
				return errNotRun
			}
		}
	}
	f := w.nem.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	t0 := time.Now()
	info, err := fn(ctx, w.clientOf(node))
	lat := time.Since(t0)
	cancel()
	rec := opRecord{workload: workload, op: op, key: key, node: node, at: t0.Sub(w.start), lat: lat, class: classify(err), fault: f,
		healedDuring: w.nem.snapshot().epoch != f.epoch}
	if rec.class == "" && info != nil {
		rec.coordinator = info.Coordinator
	}
	if err != nil && rec.class != "" {
		rec.errText = err.Error()
	}
	w.mu.Lock()
	w.ops = append(w.ops, rec)
	w.mu.Unlock()
	return err
}

// putInfo and getInfo are a result's Info (nil without a result).
func putInfo(r *client.PutResult) *client.Info {
	if r == nil {
		return nil
	}
	return &r.Info
}

func getInfo(r *client.GetResult) *client.Info {
	if r == nil {
		return nil
	}
	return &r.Info
}

func (w *workloads) rng(kind string, i int) *rand.Rand {
	h := uint64(0)
	for _, c := range kind {
		h = h*31 + uint64(c)
	}
	return rand.New(rand.NewPCG(w.seed, h<<8|uint64(i)))
}

// routedBase numbers the routed workers (their keys and seeds differ from
// the pinned ones').
const routedBase = 100

// home is the node worker id sends its requests to: pinned workers are
// spread over the coordinators, so a stalled node stalls only its own
// workers and the others measure the majority side; alt is another one (a
// delete goes through a different coordinator than the write it deletes).
// Routed workers (id >= routedBase) use the routing client: node -1.
func (w *workloads) home(id int) int {
	if id >= routedBase {
		return -1
	}
	return w.coords[id%len(w.coords)]
}

func (w *workloads) alt(id int) int {
	if id >= routedBase {
		return -1
	}
	return w.coords[(id+1)%len(w.coords)]
}

func (w *workloads) clientOf(node int) *client.Client {
	if node < 0 {
		return w.c.routed
	}
	return w.c.procs[node].kv
}

func (w *workloads) pause(ctx context.Context, r *rand.Rand) bool {
	if w.think <= 0 {
		return ctx.Err() == nil
	}
	return sleep(ctx, w.think/2+time.Duration(r.Int64N(int64(w.think))))
}

// unique writes each key once, blind; every acknowledged one must read back
// with its value. Now and then it reads back an acknowledged key at QUORUM.
func (w *workloads) unique(ctx context.Context, id int) {
	r := w.rng("unique", id)
	home := w.home(id)
	var acked []string
	for i := 0; i < w.maxKeys && ctx.Err() == nil; i++ {
		key := fmt.Sprintf("u-%d-%d", id, i)
		val := fmt.Sprintf("%s=%d", key, w.seed)
		uk := &uniqueKey{value: val}
		w.m.mu.Lock()
		w.m.unique[key] = uk
		w.m.mu.Unlock()
		var put *client.PutResult
		err := w.do(ctx, "unique", "put", key, home, func(ctx context.Context, c *client.Client) (_ *client.Info, err error) {
			put, err = c.Put(ctx, []byte(key), []byte(val))
			return putInfo(put), err
		})
		if errors.Is(err, errNotRun) {
			return
		}
		if err == nil {
			w.m.mu.Lock()
			uk.acked, uk.ackedAt, uk.replicas = true, time.Since(w.start), put.Info.Replicas
			w.m.mu.Unlock()
			acked = append(acked, key)
		}
		if i%4 == 3 && len(acked) > 0 {
			k := acked[r.IntN(len(acked))]
			want := fmt.Sprintf("%s=%d", k, w.seed)
			var res *client.GetResult
			err := w.do(ctx, "unique", "get", k, home, func(ctx context.Context, c *client.Client) (_ *client.Info, err error) {
				res, err = c.Get(ctx, []byte(k))
				return getInfo(res), err
			})
			switch {
			case errors.Is(err, client.ErrNotFound):
				w.m.mu.Lock()
				w.m.staleReads++
				w.m.mu.Unlock()
			case err == nil:
				for _, v := range res.Values {
					if string(v) != want {
						w.m.anomaly("read of %s returned %q", k, v)
					}
				}
			}
		}
		if !w.pause(ctx, r) {
			return
		}
	}
}

// setAdd adds unique elements to shared set keys by read, merge of the
// siblings (union), put with the read's context. No acknowledged element may
// be lost, no element never added may appear.
func (w *workloads) setAdd(ctx context.Context, id int) {
	r := w.rng("set", id)
	home := w.home(id)
	for n := 0; n < w.maxKeys && ctx.Err() == nil; n++ {
		slot := r.IntN(w.setKeys)
		w.m.mu.Lock()
		// Keys fill up and are replaced: s-<slot>-<generation>.
		var key string
		var sk *setKey
		for gen := 0; ; gen++ {
			key = fmt.Sprintf("s-%d-%d", slot, gen)
			sk = w.m.sets[key]
			if sk == nil {
				sk = &setKey{attempted: map[string]bool{}, acked: map[string]bool{}}
				w.m.sets[key] = sk
			}
			if sk.adds < w.setLimit {
				break
			}
		}
		sk.adds++
		w.m.mu.Unlock()

		var res *client.GetResult
		err := w.do(ctx, "set", "get", key, home, func(ctx context.Context, c *client.Client) (_ *client.Info, err error) {
			res, err = c.Get(ctx, []byte(key))
			return getInfo(res), err
		})
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			if !w.pause(ctx, r) {
				return
			}
			continue
		}
		elems := map[string]bool{}
		w.m.mu.Lock()
		for _, v := range res.Values {
			for _, e := range decodeSet(v) {
				if !sk.attempted[e] {
					w.m.unexpectedInRun++
					if len(w.m.inRunUnexpected) < 100 {
						w.m.inRunUnexpected = append(w.m.inRunUnexpected, fmt.Sprintf("read of %s returned element %q never added", key, e))
					}
				}
				elems[e] = true
			}
		}
		e := fmt.Sprintf("e%d.%d", id, n)
		sk.attempted[e] = true
		w.m.mu.Unlock()
		elems[e] = true
		val := encodeSet(elems)
		err = w.do(ctx, "set", "put", key, home, func(ctx context.Context, c *client.Client) (*client.Info, error) {
			put, err := c.Put(ctx, []byte(key), val, client.WithContext(res.Context))
			return putInfo(put), err
		})
		if err == nil {
			w.m.mu.Lock()
			sk.acked[e] = true
			w.m.mu.Unlock()
		}
		if !w.pause(ctx, r) {
			return
		}
	}
}

// delChain is a delete key in progress.
type delChain struct {
	key     string
	dk      *delKey
	context string // of the last step's result
	version int    // of the last put
	steps   int    // steps this chain runs (odd: it ends on a put)
	due     time.Time
}

// deletes runs delete chains on keys of its own: put v1, delete with the
// put's context, put v2 with the delete's context, delete, put v3, ... for
// 3 to 9 steps (so a chain ends on a put or on a delete). The pause
// between two steps is drawn: none, up to 4 s, or delGap (past the
// tombstone grace in the short-grace profile, so a key is re-created after
// its tombstone was reaped). A deleted value never comes back; the last
// acknowledged put is never masked unless a later delete was attempted.
// Puts and deletes alternate between the worker's home node and another.
func (w *workloads) deletes(ctx context.Context, id int) {
	r := w.rng("delete", id)
	home, alt := w.home(id), w.alt(id)
	var pool []*delChain
	started := 0
	gap := func() time.Duration {
		switch x := r.IntN(10); {
		case x < 4:
			return 0
		case x < 8:
			return 500*time.Millisecond + time.Duration(r.Int64N(int64(3500*time.Millisecond)))
		default:
			return w.delGap + time.Duration(r.Int64N(int64(w.delGap/4)+1))
		}
	}
	for n := 0; n < 4*w.maxKeys && ctx.Err() == nil; n++ {
		// The chain due first, or a new one.
		var ch *delChain
		now := time.Now()
		for _, c := range pool {
			if !c.due.After(now) && (ch == nil || c.due.Before(ch.due)) {
				ch = c
			}
		}
		if ch == nil && (len(pool) >= 200 || started >= w.maxKeys) {
			next := time.Now().Add(time.Second)
			for _, c := range pool {
				if c.due.Before(next) {
					next = c.due
				}
			}
			if len(pool) == 0 && started >= w.maxKeys {
				return
			}
			if !sleep(ctx, time.Until(next)) {
				return
			}
			continue
		}
		if ch == nil {
			ch = &delChain{key: fmt.Sprintf("d-%d-%d", id, started), dk: &delKey{}, steps: 3 + r.IntN(7)}
			if w.delSteps > 0 {
				ch.steps = w.delSteps
			}
			started++
			w.m.mu.Lock()
			w.m.dels[ch.key] = ch.dk
			w.m.mu.Unlock()
			pool = append(pool, ch)
		}
		done := w.delStep(ctx, ch, home, alt)
		if ctx.Err() != nil {
			return
		}
		if done {
			pool = slices.DeleteFunc(pool, func(c *delChain) bool { return c == ch })
		} else {
			ch.due = time.Now().Add(gap())
		}
		if !w.pause(ctx, r) {
			return
		}
	}
}

// delStep runs a chain's next step; it reports whether the chain is over.
func (w *workloads) delStep(ctx context.Context, ch *delChain, home, alt int) bool {
	dk := ch.dk
	put := len(dk.ops)%2 == 0
	key := []byte(ch.key)
	var res *client.PutResult
	var op delOp
	var err error
	if put {
		ch.version++
		op = delOp{put: true, value: fmt.Sprintf("%s=v%d", ch.key, ch.version)}
		w.m.mu.Lock()
		dk.ops = append(dk.ops, op) // attempted before it is sent
		w.m.mu.Unlock()
		err = w.do(ctx, "delete", "put", ch.key, home, func(ctx context.Context, c *client.Client) (_ *client.Info, err error) {
			res, err = c.Put(ctx, key, []byte(op.value), client.WithContext(ch.context))
			return putInfo(res), err
		})
	} else {
		w.m.mu.Lock()
		dk.ops = append(dk.ops, op)
		w.m.mu.Unlock()
		err = w.do(ctx, "delete", "delete", ch.key, alt, func(ctx context.Context, c *client.Client) (_ *client.Info, err error) {
			res, err = c.Delete(ctx, key, client.WithContext(ch.context))
			return putInfo(res), err
		})
	}
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if errors.Is(err, errNotRun) {
		dk.ops = dk.ops[:len(dk.ops)-1]
		return true
	}
	if err != nil {
		return true // failed: the step may or may not have happened
	}
	dk.ops[len(dk.ops)-1].acked = true
	ch.context = res.Context
	// The result holds the key's live values now: only this step's value
	// (a put) or nothing (a delete) can be there, every earlier value
	// having been deleted by an acknowledged delete.
	for _, v := range res.Values {
		switch i := dk.putIndex(string(v)); {
		case i < 0:
			w.m.unexpectedInRun++
			w.m.noteInRun("%s of %s returned %q, never written", map[bool]string{true: "put", false: "delete"}[put], ch.key, v)
		case i != len(dk.ops)-1 && dk.deletedAfter(i):
			w.m.resurrectedInRun++
			w.m.noteInRun("%s of %s returned %q, deleted (acknowledged) before", map[bool]string{true: "put", false: "delete"}[put], ch.key, v)
		}
	}
	return len(dk.ops) >= ch.steps
}

// putIndex is the step that put value (-1: none).
func (d *delKey) putIndex(value string) int {
	for i, o := range d.ops {
		if o.put && o.value == value {
			return i
		}
	}
	return -1
}

// deletedAfter reports whether an acknowledged delete follows step i.
func (d *delKey) deletedAfter(i int) bool {
	for _, o := range d.ops[i+1:] {
		if !o.put && o.acked {
			return true
		}
	}
	return false
}

// --- checking a key's final state ---

// verdict counts what is wrong with the states a checker saw.
type verdict struct {
	Lost        int `json:"lost"`
	Unexpected  int `json:"unexpected"`
	Resurrected int `json:"resurrected"`
	// Duplicated counts values held twice: one request applied twice (two
	// dots for one write). Also counted in Unexpected.
	Duplicated int      `json:"duplicated"`
	Examples   []string `json:"examples,omitempty"`
}

func (v *verdict) add(o verdict) {
	v.Lost += o.Lost
	v.Unexpected += o.Unexpected
	v.Resurrected += o.Resurrected
	v.Duplicated += o.Duplicated
	for _, e := range o.Examples {
		if len(v.Examples) < 10 {
			v.Examples = append(v.Examples, e)
		}
	}
}

func (v *verdict) note(format string, args ...any) {
	if len(v.Examples) < 10 {
		v.Examples = append(v.Examples, fmt.Sprintf(format, args...))
	}
}

func (v verdict) bad() bool { return v.Lost+v.Unexpected+v.Resurrected > 0 }

// keys lists every key the workloads touched, sorted.
func (m *model) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.unique {
		out = append(out, k)
	}
	for k := range m.sets {
		out = append(out, k)
	}
	for k := range m.dels {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// acknowledged counts acknowledged writes.
func (m *model) acknowledged() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, u := range m.unique {
		if u.acked {
			n++
		}
	}
	for _, s := range m.sets {
		n += len(s.acked)
	}
	for _, d := range m.dels {
		for _, o := range d.ops {
			if o.acked {
				n++
			}
		}
	}
	return n
}

// check judges one key's live values (as read at ALL, or from one replica's
// own copy), where.
func (m *model) check(where, key string, values [][]byte) verdict {
	m.mu.Lock()
	defer m.mu.Unlock()
	var v verdict
	switch {
	case m.unique[key] != nil:
		u := m.unique[key]
		n := 0
		for _, val := range values {
			if string(val) == u.value {
				n++
			} else {
				v.Unexpected++
				v.note("%s: %s holds %q, never written", where, key, val)
			}
		}
		if n > 1 {
			v.Unexpected++
			v.Duplicated++
			v.note("%s: %s holds its value %d times (one write applied twice)", where, key, n)
		}
		if u.acked && n == 0 {
			v.Lost++
			v.note("%s: acknowledged write of %s lost", where, key)
		}
	case m.sets[key] != nil:
		s := m.sets[key]
		seen := map[string]bool{}
		for _, val := range values {
			for _, e := range decodeSet(val) {
				if !s.attempted[e] && !seen[e] {
					v.Unexpected++
					v.note("%s: set %s holds element %q never added", where, key, e)
				}
				seen[e] = true
			}
		}
		var lost []string
		for e := range s.acked {
			if !seen[e] {
				lost = append(lost, e)
			}
		}
		if len(lost) > 0 {
			sort.Strings(lost)
			v.Lost += len(lost)
			v.note("%s: set %s lost %d acknowledged elements %v", where, key, len(lost), lost[:min(len(lost), 5)])
		}
	case m.dels[key] != nil:
		d := m.dels[key]
		has := map[string]int{}
		for _, val := range values {
			if d.putIndex(string(val)) < 0 {
				v.Unexpected++
				v.note("%s: %s holds %q, never written", where, key, val)
				continue
			}
			has[string(val)]++
		}
		for val, n := range has {
			if n > 1 {
				v.Unexpected++
				v.Duplicated++
				v.note("%s: %s holds %q %d times (one write applied twice)", where, key, val, n)
			}
			if d.deletedAfter(d.putIndex(val)) {
				v.Resurrected++
				v.note("%s: %s holds %q although a later delete was acknowledged (steps %s)", where, key, val, d.steps())
			}
		}
		last := -1
		for i, o := range d.ops {
			if o.put && o.acked {
				last = i
			}
		}
		if last >= 0 && has[d.ops[last].value] == 0 && !slices.ContainsFunc(d.ops[last+1:], func(o delOp) bool { return !o.put }) {
			v.Lost++
			v.note("%s: %s lost %q, its last acknowledged put (steps %s)", where, key, d.ops[last].value, d.steps())
		}
	default:
		v.Unexpected++
		v.note("%s: key %s was never written", where, key)
	}
	return v
}
