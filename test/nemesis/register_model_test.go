package nemesis

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// Hand-written register histories and porcupine's verdict on them with the
// register model.

const inf = math.MaxInt64

func rop(client int, call, ret int64, in regInput, out regOutput) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func get(key string) regInput { return regInput{Key: key, Op: regGet} }
func cas(key string, expect uint64, v string) regInput {
	return regInput{Key: key, Op: regCAS, Expect: expect, Value: v}
}
func put(key, v string) regInput         { return regInput{Key: key, Op: regPut, Value: v} }
func incr(key string, by int64) regInput { return regInput{Key: key, Op: regIncr, By: by} }

func saw(v string, version uint64) regOutput {
	return regOutput{Found: true, Value: v, Version: version}
}
func applied(v string, version uint64) regOutput {
	return regOutput{Applied: true, Found: true, Value: v, Version: version}
}

var (
	absent  = regOutput{}
	unknown = regOutput{Unknown: true}
)

func TestRegisterModelHistories(t *testing.T) {
	cases := []struct {
		name string
		ops  []porcupine.Operation
		want porcupine.CheckResult
	}{
		{"cas then reads, one concurrent", []porcupine.Operation{
			rop(0, 0, 10, cas("r", 0, "1"), applied("1", 1)),
			rop(1, 2, 4, get("r"), absent),
			rop(2, 5, 15, get("r"), saw("1", 1)),
			rop(3, 20, 30, get("r"), saw("1", 1)),
		}, porcupine.Ok},
		{"stale read after an acknowledged cas", []porcupine.Operation{
			rop(0, 0, 10, cas("r", 0, "1"), applied("1", 1)),
			rop(1, 20, 30, get("r"), absent),
		}, porcupine.Illegal},
		{"new value then old value", []porcupine.Operation{
			rop(0, 0, 100, put("r", "1"), applied("1", 1)),
			rop(1, 10, 20, get("r"), saw("1", 1)),
			rop(2, 30, 40, get("r"), absent),
		}, porcupine.Illegal},
		{"a failed condition reads the current state", []porcupine.Operation{
			rop(0, 0, 10, put("r", "3"), applied("3", 1)),
			rop(1, 20, 30, cas("r", 0, "4"), saw("3", 1)),
			rop(2, 40, 50, cas("r", 1, "4"), applied("4", 2)),
		}, porcupine.Ok},
		{"a failed condition that shows a state never held", []porcupine.Operation{
			rop(0, 0, 10, put("r", "3"), applied("3", 1)),
			rop(1, 20, 30, cas("r", 0, "4"), saw("2", 1)),
		}, porcupine.Illegal},
		{"a condition that held but failed", []porcupine.Operation{
			rop(0, 0, 10, put("r", "3"), applied("3", 1)),
			rop(1, 20, 30, cas("r", 1, "4"), saw("3", 1)),
		}, porcupine.Illegal},
		{"a cas applied against the wrong version", []porcupine.Operation{
			rop(0, 0, 10, put("r", "3"), applied("3", 1)),
			rop(1, 20, 30, cas("r", 0, "4"), applied("4", 2)),
		}, porcupine.Illegal},
		{"two changes made the same version", []porcupine.Operation{
			rop(0, 0, 10, put("r", "1"), applied("1", 1)),
			rop(1, 5, 15, put("r", "2"), applied("2", 1)),
		}, porcupine.Illegal},
		{"concurrent cas: one wins, the other reads it", []porcupine.Operation{
			rop(0, 0, 10, cas("r", 0, "1"), applied("1", 1)),
			rop(1, 0, 10, cas("r", 0, "2"), saw("1", 1)),
		}, porcupine.Ok},
		// Unknown outcomes return at +∞: a read that misses the write and a
		// later one that sees it are both legal.
		{"unknown put at +∞: missed, then seen", []porcupine.Operation{
			rop(0, 0, inf, put("r", "1"), unknown),
			rop(1, 20, 30, get("r"), absent),
			rop(2, 40, 50, get("r"), saw("1", 1)),
			rop(3, 60, 70, get("r"), saw("1", 1)),
		}, porcupine.Ok},
		{"the same put acknowledged: the first read is stale", []porcupine.Operation{
			rop(0, 0, 10, put("r", "1"), applied("1", 1)),
			rop(1, 20, 30, get("r"), absent),
			rop(2, 40, 50, get("r"), saw("1", 1)),
		}, porcupine.Illegal},
		{"the same put returned early as unknown: seen after missed is illegal", []porcupine.Operation{
			rop(0, 0, 10, put("r", "1"), unknown),
			rop(1, 20, 30, get("r"), absent),
			rop(2, 40, 50, get("r"), saw("1", 1)),
		}, porcupine.Illegal},
		{"unknown put never applied", []porcupine.Operation{
			rop(0, 0, inf, put("r", "1"), unknown),
			rop(1, 20, 30, get("r"), absent),
			rop(2, 40, 50, cas("r", 0, "2"), applied("2", 1)),
		}, porcupine.Ok},
		{"unknown put applied twice", []porcupine.Operation{
			rop(0, 0, inf, put("r", "1"), unknown),
			rop(1, 20, 30, get("r"), saw("1", 1)),
			rop(2, 40, 50, get("r"), saw("1", 2)),
		}, porcupine.Illegal},
		{"unknown cas applies only on its version", []porcupine.Operation{
			rop(0, 0, 10, put("r", "1"), applied("1", 1)),
			rop(1, 20, inf, cas("r", 0, "2"), unknown),
			rop(2, 40, 50, get("r"), saw("2", 2)),
		}, porcupine.Illegal},
		// Increments with an unknown outcome: latent from their call on.
		{"latent increments both taken", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 20, incr("c", 2), unknown),
			rop(2, 25, 25, incr("c", 1), unknown),
			rop(3, 40, 50, get("c"), saw("4", 3)),
			rop(4, 60, 70, incr("c", 2), applied("6", 4)),
		}, porcupine.Ok},
		{"latent increments: only the one by 2", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 20, incr("c", 2), unknown),
			rop(2, 25, 25, incr("c", 1), unknown),
			rop(3, 40, 50, get("c"), saw("3", 2)),
			rop(4, 60, 70, get("c"), saw("3", 2)),
		}, porcupine.Ok},
		{"latent increments: one taken later by an increment", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 20, incr("c", 2), unknown),
			rop(2, 25, 25, incr("c", 1), unknown),
			rop(3, 40, 50, get("c"), saw("2", 2)),
			rop(4, 60, 70, incr("c", 1), applied("5", 4)),
		}, porcupine.Ok},
		{"latent increments: no split gives the gap", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 20, incr("c", 2), unknown),
			rop(2, 25, 25, incr("c", 1), unknown),
			rop(3, 40, 50, get("c"), saw("5", 3)),
		}, porcupine.Illegal},
		{"latent increment taken before its call", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(3, 12, 15, get("c"), saw("3", 2)),
			rop(1, 20, 20, incr("c", 2), unknown),
		}, porcupine.Illegal},
		{"latent increment taken twice", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 20, incr("c", 2), unknown),
			rop(2, 40, 50, get("c"), saw("3", 2)),
			rop(3, 60, 70, get("c"), saw("5", 3)),
		}, porcupine.Illegal},
		{"unknown increment by 3 at +∞", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, inf, incr("c", 3), unknown),
			rop(2, 40, 50, get("c"), saw("1", 1)),
			rop(3, 60, 70, get("c"), saw("4", 2)),
		}, porcupine.Ok},
		{"a counter lost an acknowledged increment", []porcupine.Operation{
			rop(0, 0, 10, incr("c", 1), applied("1", 1)),
			rop(1, 20, 30, incr("c", 2), applied("3", 2)),
			rop(2, 40, 50, get("c"), saw("1", 1)),
		}, porcupine.Illegal},
		// Keys are independent: an illegal key makes the whole illegal.
		{"two keys, both legal", []porcupine.Operation{
			rop(0, 0, 10, put("a", "1"), applied("1", 1)),
			rop(1, 20, 30, get("b"), absent),
			rop(2, 40, 50, get("a"), saw("1", 1)),
		}, porcupine.Ok},
		{"two keys, one illegal", []porcupine.Operation{
			rop(0, 0, 10, put("a", "1"), applied("1", 1)),
			rop(1, 20, 30, get("b"), saw("1", 1)),
		}, porcupine.Illegal},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, _ := porcupine.CheckOperationsVerbose(registerModel(), c.ops, 10*time.Second)
			if res != c.want {
				t.Fatalf("porcupine says %v, want %v", res, c.want)
			}
		})
	}
}

func TestRegisterModelPartitionsByKey(t *testing.T) {
	ops := []porcupine.Operation{
		rop(0, 0, 10, put("b", "1"), applied("1", 1)),
		rop(1, 5, 15, get("a"), absent),
		rop(2, 20, 30, get("b"), saw("1", 1)),
	}
	parts := registerModel().Partition(ops)
	if len(parts) != 2 {
		t.Fatalf("%d partitions, want 2", len(parts))
	}
	var keys [][]string
	for _, p := range parts {
		var ks []string
		for _, op := range p {
			ks = append(ks, op.Input.(regInput).Key)
		}
		keys = append(keys, ks)
	}
	if !slices.Equal(keys[0], []string{"a"}) || !slices.Equal(keys[1], []string{"b", "b"}) || parts[1][0].ClientId != 0 || parts[1][1].ClientId != 2 {
		t.Fatalf("partitions %v, want [a] then [b b] in history order", keys)
	}
}
