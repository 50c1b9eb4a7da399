package nemesis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
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
	errText      string
	fault        *faultSnap
	healedDuring bool // the fault in force changed while it ran
}

// classify names an error's kind for failures_by_kind.
func classify(err error) string {
	if err == nil || errors.Is(err, client.ErrNotFound) {
		return ""
	}
	var ue *client.UnavailableError
	var ts *client.TooManySiblingsError
	switch {
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
	value string
	acked bool // false: the write failed and may or may not have happened
}

type setKey struct {
	attempted map[string]bool // every element some put carried
	acked     map[string]bool // elements of acknowledged puts
	adds      int
}

type delKey struct {
	v1, v2                     string
	v1Acked                    bool
	delAttempted, delAcked     bool
	v2Attempted, v2Acked       bool
	v1Indeterminate, abandoned bool
}

type model struct {
	mu     sync.Mutex
	unique map[string]*uniqueKey
	sets   map[string]*setKey
	dels   map[string]*delKey

	// Anomalies seen while the workloads ran (reads of values never written).
	inRunUnexpected []string // examples
	unexpectedInRun int
	staleReads      int
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
	c        *cluster
	nem      *nemesis
	m        *model
	seed     uint64
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

// do runs one request against node and records it.
func (w *workloads) do(workload, op, key string, node int, fn func(ctx context.Context, c *client.Client) error) error {
	f := w.nem.snapshot()
	ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
	t0 := time.Now()
	err := fn(ctx, w.clientOf(node))
	lat := time.Since(t0)
	cancel()
	rec := opRecord{workload: workload, op: op, key: key, node: node, at: t0.Sub(w.start), lat: lat, class: classify(err), fault: f,
		healedDuring: w.nem.snapshot().epoch != f.epoch}
	if err != nil && rec.class != "" {
		rec.errText = err.Error()
	}
	w.mu.Lock()
	w.ops = append(w.ops, rec)
	w.mu.Unlock()
	return err
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
		err := w.do("unique", "put", key, home, func(ctx context.Context, c *client.Client) error {
			_, err := c.Put(ctx, []byte(key), []byte(val))
			return err
		})
		if err == nil {
			w.m.mu.Lock()
			uk.acked = true
			w.m.mu.Unlock()
			acked = append(acked, key)
		}
		if i%4 == 3 && len(acked) > 0 {
			k := acked[r.IntN(len(acked))]
			want := fmt.Sprintf("%s=%d", k, w.seed)
			var res *client.GetResult
			err := w.do("unique", "get", k, home, func(ctx context.Context, c *client.Client) (err error) {
				res, err = c.Get(ctx, []byte(k))
				return err
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
		err := w.do("set", "get", key, home, func(ctx context.Context, c *client.Client) (err error) {
			res, err = c.Get(ctx, []byte(key))
			return err
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
		err = w.do("set", "put", key, home, func(ctx context.Context, c *client.Client) error {
			_, err := c.Put(ctx, []byte(key), val, client.WithContext(res.Context))
			return err
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

// deletes writes a key, deletes it with the write's context and sometimes
// writes it again with the delete's context: a deleted key must never come
// back and a key written again must never be masked by the delete.
func (w *workloads) deletes(ctx context.Context, id int) {
	r := w.rng("delete", id)
	home, alt := w.home(id), w.alt(id)
	for i := 0; i < w.maxKeys && ctx.Err() == nil; i++ {
		key := fmt.Sprintf("d-%d-%d", id, i)
		dk := &delKey{v1: key + "=v1", v2: key + "=v2"}
		w.m.mu.Lock()
		w.m.dels[key] = dk
		w.m.mu.Unlock()
		set := func(f func()) { w.m.mu.Lock(); f(); w.m.mu.Unlock() }
		var put *client.PutResult
		err := w.do("delete", "put", key, home, func(ctx context.Context, c *client.Client) (err error) {
			put, err = c.Put(ctx, []byte(key), []byte(dk.v1))
			return err
		})
		if err != nil {
			set(func() { dk.v1Indeterminate, dk.abandoned = true, true })
			if !w.pause(ctx, r) {
				return
			}
			continue
		}
		set(func() { dk.v1Acked = true })
		if !w.pause(ctx, r) {
			return
		}
		set(func() { dk.delAttempted = true })
		var del *client.PutResult
		err = w.do("delete", "delete", key, alt, func(ctx context.Context, c *client.Client) (err error) {
			del, err = c.Delete(ctx, []byte(key), client.WithContext(put.Context))
			return err
		})
		if err != nil {
			if !w.pause(ctx, r) {
				return
			}
			continue
		}
		set(func() { dk.delAcked = true })
		if r.IntN(2) == 0 {
			if !w.pause(ctx, r) {
				return
			}
			set(func() { dk.v2Attempted = true })
			err = w.do("delete", "put", key, home, func(ctx context.Context, c *client.Client) error {
				_, err := c.Put(ctx, []byte(key), []byte(dk.v2), client.WithContext(del.Context))
				return err
			})
			if err == nil {
				set(func() { dk.v2Acked = true })
			}
		}
		if !w.pause(ctx, r) {
			return
		}
	}
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
		for _, b := range []bool{d.v1Acked, d.delAcked, d.v2Acked} {
			if b {
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
			s := string(val)
			switch s {
			case d.v1, d.v2:
				has[s]++
			default:
				v.Unexpected++
				v.note("%s: %s holds %q, never written", where, key, val)
			}
		}
		if has[d.v1] > 1 || has[d.v2] > 1 {
			v.Unexpected++
			v.Duplicated++
			v.note("%s: %s holds a value twice (one write applied twice): %q", where, key, values)
		}
		if has[d.v2] > 0 && !d.v2Attempted {
			v.Unexpected++
			v.note("%s: %s holds %q, never written", where, key, d.v2)
		}
		if has[d.v1] > 0 && d.delAcked {
			v.Resurrected++
			v.note("%s: %s deleted (acknowledged) but holds %q again", where, key, d.v1)
		}
		if d.v1Acked && !d.delAttempted && has[d.v1] == 0 {
			v.Lost++
			v.note("%s: acknowledged write of %s=v1 lost", where, key)
		}
		if d.v2Acked && has[d.v2] == 0 {
			v.Lost++
			v.note("%s: %s written again after its delete (acknowledged) but the write is masked", where, key)
		}
	default:
		v.Unexpected++
		v.note("%s: key %s was never written", where, key)
	}
	return v
}
