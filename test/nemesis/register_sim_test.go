package nemesis

import (
	"container/heap"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/anishathalye/porcupine"
)

// A simulated register service for the checker's tests: clients run
// operations against one correct in-memory register per key, each taking
// effect at a random point between its call and its return (or, for an
// unknown outcome, possibly later or never), so the histories are
// linearizable unless a fault is injected on purpose.

// simConfig shapes a simulated history.
type simConfig struct {
	seed       uint64
	keys       []string // register keys (gets, cas, puts)
	counter    string   // a counter key (gets, increments); "" for none
	clients    int      // per key
	opsPerKey  int
	unknown    float64 // share of operations whose outcome is lost
	putShare   float64 // share of the writes that are unconditional
	lateApply  bool    // an unknown change may take effect long after its call
	lostWrites int     // acknowledged changes that do not change the state (a bug to catch)
	values     int     // values written are 0..values-1
}

type simEvent struct {
	at   int64
	kind int // 0 call, 1 take effect, 2 return (effects before returns at the same instant)
	op   int
	cl   int
}

type simQueue []simEvent

func (q simQueue) Len() int { return len(q) }
func (q simQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].kind < q[j].kind
}
func (q simQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *simQueue) Push(x any)   { *q = append(*q, x.(simEvent)) }
func (q *simQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// simApply is the correct register: the state after in, and the answer.
func simApply(s regState, in regInput) (regState, regOutput) {
	ans := func(st regState, applied bool) regOutput {
		return regOutput{Applied: applied, Found: st.Exists, Value: st.Value, Version: st.Version}
	}
	switch in.Op {
	case regCAS:
		if s.Version != in.Expect {
			return s, ans(s, false)
		}
		fallthrough
	case regPut:
		n := regState{Exists: true, Value: in.Value, Version: s.Version + 1}
		return n, ans(n, true)
	case regIncr:
		cur, _ := s.number()
		n := regState{Exists: true, Value: strconv.FormatInt(cur+in.By, 10), Version: s.Version + 1}
		return n, ans(n, true)
	}
	return s, ans(s, false)
}

// simulate runs the simulated clients and returns their records as the
// harness makes them: a client that saw an unknown outcome continues under
// a new client id.
func simulate(c simConfig) []regRecord {
	r := rand.New(rand.NewPCG(c.seed, 7))
	if c.values == 0 {
		c.values = 5
	}
	type client struct {
		key     string
		id      int
		version uint64
		left    int
	}
	type pending struct {
		in      regInput
		call    int64
		out     regOutput
		unknown bool
		skip    bool // an unknown change that never takes effect
		cl      int
	}
	states := map[string]regState{}
	var clients []*client
	keys := append([]string(nil), c.keys...)
	if c.counter != "" {
		keys = append(keys, c.counter)
	}
	nextID := 0
	for _, k := range keys {
		for range c.clients {
			clients = append(clients, &client{key: k, id: nextID, left: c.opsPerKey / c.clients})
			nextID++
		}
	}
	lost := c.lostWrites
	var q simQueue
	var ops []pending
	var recs []regRecord
	lat := func() int64 {
		d := int64(200 + r.IntN(3000)) // µs
		if r.IntN(50) == 0 {
			d += int64(r.IntN(200_000)) // a slow one
		}
		return d
	}
	for i := range clients {
		heap.Push(&q, simEvent{at: int64(r.IntN(1000)), kind: 0, cl: i})
	}
	for q.Len() > 0 {
		e := heap.Pop(&q).(simEvent)
		cl := clients[e.cl]
		switch e.kind {
		case 0:
			if cl.left == 0 {
				continue
			}
			cl.left--
			var in regInput
			switch x := r.Float64(); {
			case cl.key == c.counter && x < 0.3:
				in = regInput{Key: cl.key, Op: regGet}
			case cl.key == c.counter:
				in = regInput{Key: cl.key, Op: regIncr, By: 1 + int64(r.IntN(2))}
			case x < 0.4:
				in = regInput{Key: cl.key, Op: regGet}
			case x < 0.4+0.6*c.putShare:
				in = regInput{Key: cl.key, Op: regPut, Value: strconv.Itoa(r.IntN(c.values))}
			default:
				in = regInput{Key: cl.key, Op: regCAS, Expect: cl.version, Value: strconv.Itoa(r.IntN(c.values))}
			}
			p := pending{in: in, call: e.at, cl: e.cl, unknown: r.Float64() < c.unknown}
			eff := e.at + lat()
			if p.unknown {
				switch x := r.IntN(3); {
				case x == 0:
					p.skip = true
				case x == 1 && c.lateApply:
					eff = e.at + int64(r.IntN(5_000_000))
				}
			}
			ops = append(ops, p)
			heap.Push(&q, simEvent{at: eff, kind: 1, op: len(ops) - 1, cl: e.cl})
			ret := eff + lat()
			if p.unknown {
				ret = e.at + 5_000 + lat()
			}
			heap.Push(&q, simEvent{at: ret, kind: 2, op: len(ops) - 1, cl: e.cl})
		case 1:
			p := &ops[e.op]
			if p.skip {
				continue
			}
			s := states[p.in.Key]
			n, out := simApply(s, p.in)
			if out.Applied && !p.unknown && lost > 0 && s.Version > 10 && r.IntN(10) == 0 {
				n = s // acknowledged, then forgotten
				lost--
			}
			states[p.in.Key] = n
			p.out = out
		case 2:
			p := ops[e.op]
			rec := regRecord{client: cl.id, in: p.in, out: p.out, call: time.Duration(p.call) * time.Microsecond, ret: time.Duration(e.at) * time.Microsecond, where: "sim"}
			if p.unknown {
				rec.out = regOutput{Unknown: true}
				rec.class = "outcome_unknown"
				cl.id = nextID
				nextID++
			} else {
				cl.version = p.out.Version
			}
			recs = append(recs, rec)
			heap.Push(&q, simEvent{at: e.at + int64(r.IntN(2000)), kind: 0, cl: e.cl})
		}
	}
	return recs
}

// simCheck checks a simulated history key by key.
func simCheck(recs []regRecord, timeout time.Duration) porcupine.CheckResult {
	hist, _ := registerHistory(recs)
	res, _ := porcupine.CheckOperationsVerbose(registerModel(), hist, timeout)
	return res
}
