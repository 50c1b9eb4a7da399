package paxossim

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/quorumkv/quorumkv/paxos"
)

// Helpers for the scripted scenarios: a cluster of acceptors a, b, c (and
// more when named), proposers p1..p3 and pg (collection), a history for
// porcupine, and changes by kind.

const key = "k"

func script(t *testing.T, acceptors ...string) *Cluster {
	t.Helper()
	if len(acceptors) == 0 {
		acceptors = []string{"a", "b", "c"}
	}
	return NewCluster(acceptors, []string{"p1", "p2", "p3", "pg"}, paxos.DefaultWindow)
}

// clean fails t on any violation the checker found.
func clean(t *testing.T, c *Cluster) {
	t.Helper()
	for _, v := range c.Checker.Violations() {
		t.Error(v)
	}
}

func set(id, v string) paxos.Op { return paxos.Op{Kind: paxos.OpSet, ID: []byte(id), Value: []byte(v)} }
func setIf(id, v string, version uint64) paxos.Op {
	return paxos.Op{Kind: paxos.OpSet, ID: []byte(id), Value: []byte(v), HasVersion: true, Version: version}
}
func del(id string) paxos.Op { return paxos.Op{Kind: paxos.OpDelete, ID: []byte(id)} }
func incr(id string) paxos.Op {
	return paxos.Op{Kind: paxos.OpIncrement, ID: []byte(id), By: 1}
}
func get() paxos.Op { return paxos.Op{Kind: paxos.OpGet} }

// history records client operations for porcupine: calls and returns on
// one logical clock.
type history struct {
	t   int64
	ops []porcupine.Operation
}

type call struct {
	at int64
	in Input
}

func (h *history) call(op paxos.Op) call {
	h.t++
	return call{at: h.t, in: InputOf(key, op)}
}

func (h *history) ret(c call, out Output) {
	h.t++
	h.ops = append(h.ops, porcupine.Operation{Input: c.in, Call: c.at, Output: out, Return: h.t})
}

func (h *history) unknown(c call) {
	h.ops = append(h.ops, porcupine.Operation{Input: c.in, Call: c.at, Output: Output{Unknown: true}, Return: math.MaxInt64})
}

func (h *history) check(t *testing.T) porcupine.CheckResult {
	t.Helper()
	return CheckHistory(h.ops, 10*time.Second)
}

// run drives a round to its end through the named acceptors: the prepare
// (unless the round is fast), then the accept, to the same names.
func run(t *testing.T, c *Cluster, r *Round, names ...string) {
	t.Helper()
	if !r.Msg.Accept {
		c.Deliver(r, names...)
		if !r.Msg.Accept {
			t.Fatalf("round %d: no accept after promises from %v (phase %d)", r.ID, names, r.P.Phase())
		}
	}
	c.Deliver(r, names...)
}

// result returns a chosen round's one result.
func result(t *testing.T, r *Round) paxos.Result {
	t.Helper()
	if r.P.Phase() != paxos.Chosen {
		t.Fatalf("round %d not chosen (phase %d)", r.ID, r.P.Phase())
	}
	return r.P.Results()[0]
}

// do runs op on p through names as a client call recorded in h and
// returns its result.
func do(t *testing.T, c *Cluster, h *history, p string, now uint64, op paxos.Op, names ...string) (paxos.Result, *Round) {
	t.Helper()
	cl := h.call(op)
	for attempt := 0; ; attempt++ {
		r := c.Start(c.Proposer(p), key, []paxos.Op{op}, now)
		run(t, c, r, names...)
		// A fast round refused (a stale cache entry) is retried with a
		// full round, as the node does.
		if r.P.Fast() && r.P.Phase() != paxos.Chosen && attempt == 0 {
			continue
		}
		res := result(t, r)
		h.ret(cl, OutputOf(res))
		return res, r
	}
}

func value(s paxos.State) string {
	if !s.Exists {
		return "∅"
	}
	return string(s.Value)
}
