package bench

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// Op is one kind of operation.
type Op int

// Operations, in report order.
const (
	OpRead Op = iota
	OpUpdate
	OpInsert
	OpRMW
	// OpCAS is a compare-and-set by version (RegisterDriver).
	OpCAS
	// OpIncr increments a register (RegisterDriver).
	OpIncr
	// OpLock acquires a lock and releases it (LockDriver).
	OpLock
	// OpKeepAlive renews a lease (LeaseDriver).
	OpKeepAlive
	numOps
)

var opNames = [numOps]string{"read", "update", "insert", "rmw", "cas", "incr", "lock", "keepalive"}

func (o Op) String() string {
	if o < 0 || o >= numOps {
		return "op" + strconv.Itoa(int(o))
	}
	return opNames[o]
}

// Ops lists every operation in report order.
func Ops() []Op { return []Op{OpRead, OpUpdate, OpInsert, OpRMW, OpCAS, OpIncr, OpLock, OpKeepAlive} }

// Workload is an operation mix (proportions summing to 1) and its default
// key distribution.
type Workload struct {
	Name        string
	Description string
	// Mix[op] is the proportion of op.
	Mix [numOps]float64
	// Distribution is the default key distribution of reads and updates.
	Distribution string
	// Load: insert keys 0…records-1 in order, then stop.
	Load bool
	// Records is the workload's own default key space (0: the caller's).
	Records int64
}

// Workloads are YCSB's core workloads a–d and f, a write-only one, the load
// phase, and the register and lock workloads (cas, hot-incr, lock), which
// need a driver that implements RegisterDriver or LockDriver.
var Workloads = map[string]Workload{
	"a":     {Name: "a", Description: "update heavy: 50% read, 50% update", Mix: mix(0.5, 0.5, 0, 0), Distribution: DistZipfian},
	"b":     {Name: "b", Description: "read mostly: 95% read, 5% update", Mix: mix(0.95, 0.05, 0, 0), Distribution: DistZipfian},
	"c":     {Name: "c", Description: "read only", Mix: mix(1, 0, 0, 0), Distribution: DistZipfian},
	"d":     {Name: "d", Description: "read latest: 95% read (skewed to recent inserts), 5% insert", Mix: mix(0.95, 0, 0.05, 0), Distribution: DistLatest},
	"f":     {Name: "f", Description: "read-modify-write: 50% read, 50% get then put with the context read", Mix: mix(0.5, 0, 0, 0.5), Distribution: DistZipfian},
	"write": {Name: "write", Description: "write only: 100% update", Mix: mix(0, 1, 0, 0), Distribution: DistUniform},
	"load":  {Name: "load", Description: "insert every key of the key space in order, then stop", Mix: mix(0, 0, 1, 0), Distribution: DistSequential, Load: true},
	"cas": {Name: "cas", Description: "compare-and-set by version: each client reads a key the first time it picks it, then sets it expecting the version it last saw",
		Mix: only(OpCAS), Distribution: DistUniform, Records: 10_000},
	"hot-incr": {Name: "hot-incr", Description: "every client increments the same key",
		Mix: only(OpIncr), Distribution: DistUniform, Records: 1},
	"lock": {Name: "lock", Description: "acquire a lock and release it; each client draws names from a key space of its own (no contention)",
		Mix: only(OpLock), Distribution: DistUniform, Records: 10_000},
	"keepalive": {Name: "keepalive", Description: "renew leases: the run grants --records leases of --lock-ttl first, then each operation renews one, drawn uniformly",
		Mix: only(OpKeepAlive), Distribution: DistUniform, Records: 10_000},
}

func mix(read, update, insert, rmw float64) [numOps]float64 {
	return [numOps]float64{OpRead: read, OpUpdate: update, OpInsert: insert, OpRMW: rmw}
}

func only(op Op) [numOps]float64 {
	var m [numOps]float64
	m[op] = 1
	return m
}

// Registers: the workload needs a RegisterDriver (cas, hot-incr).
func (w Workload) Registers() bool { return w.Mix[OpCAS] > 0 || w.Mix[OpIncr] > 0 }

// Locks: the workload needs a LockDriver (lock).
func (w Workload) Locks() bool { return w.Mix[OpLock] > 0 }

// Leases reports whether the workload renews leases (LeaseDriver).
func (w Workload) Leases() bool { return w.Mix[OpKeepAlive] > 0 }

// WorkloadNames lists the workloads in a stable order.
func WorkloadNames() []string {
	names := make([]string, 0, len(Workloads))
	for n := range Workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// LookupWorkload finds a workload by name.
func LookupWorkload(name string) (Workload, error) {
	w, ok := Workloads[strings.ToLower(name)]
	if !ok {
		return Workload{}, fmt.Errorf("unknown workload %q (want %s)", name, strings.Join(WorkloadNames(), ", "))
	}
	return w, nil
}

// MixString renders the mix, e.g. "read 95%, update 5%".
func (w Workload) MixString() string {
	var parts []string
	for _, op := range Ops() {
		if p := w.Mix[op]; p > 0 {
			parts = append(parts, fmt.Sprintf("%s %s%%", op, strconv.FormatFloat(p*100, 'f', -1, 64)))
		}
	}
	return strings.Join(parts, ", ")
}

// opChooser draws operations in the workload's proportions.
type opChooser struct {
	ops []Op      // the operations with a share, in order
	cum []float64 // their cumulative normalised shares
}

func newOpChooser(w Workload) opChooser {
	var c opChooser
	var total float64
	for _, op := range Ops() {
		total += w.Mix[op]
	}
	var acc float64
	for _, op := range Ops() {
		if w.Mix[op] > 0 {
			acc += w.Mix[op] / total
			c.ops = append(c.ops, op)
			c.cum = append(c.cum, acc)
		}
	}
	return c
}

func (c *opChooser) next(r *rand.Rand) Op {
	u := r.Float64()
	for i, bound := range c.cum {
		if u < bound {
			return c.ops[i]
		}
	}
	return c.ops[len(c.ops)-1] // rounding: u above the last bound
}

// ValueSize is the range of value sizes in bytes, each drawn uniformly.
type ValueSize struct{ Min, Max int }

func (v ValueSize) String() string {
	if v.Min == v.Max {
		return strconv.Itoa(v.Min)
	}
	return fmt.Sprintf("%d-%d", v.Min, v.Max)
}

// ParseValueSize reads "N" or "MIN-MAX".
func ParseValueSize(s string) (ValueSize, error) {
	lo, hi, ranged := strings.Cut(strings.TrimSpace(s), "-")
	a, err := strconv.Atoi(lo)
	if err != nil {
		return ValueSize{}, fmt.Errorf("value size %q: want N or MIN-MAX", s)
	}
	b := a
	if ranged {
		if b, err = strconv.Atoi(hi); err != nil {
			return ValueSize{}, fmt.Errorf("value size %q: want N or MIN-MAX", s)
		}
	}
	if a < 0 || b < a {
		return ValueSize{}, fmt.Errorf("value size %q: want 0 <= MIN <= MAX", s)
	}
	return ValueSize{Min: a, Max: b}, nil
}

// valueGen hands out values: slices of a random buffer at random offsets, so
// making one costs no allocation. Values are read-only for drivers.
type valueGen struct {
	size ValueSize
	buf  []byte
}

const valueAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

func newValueGen(size ValueSize, r *rand.Rand) *valueGen {
	buf := make([]byte, 2*size.Max+256)
	for i := range buf {
		buf[i] = valueAlphabet[r.IntN(len(valueAlphabet))]
	}
	return &valueGen{size: size, buf: buf}
}

func (g *valueGen) next(r *rand.Rand) []byte {
	n := g.size.Min
	if g.size.Max > g.size.Min {
		n += r.IntN(g.size.Max - g.size.Min + 1)
	}
	off := r.IntN(len(g.buf) - n + 1)
	return g.buf[off : off+n : off+n]
}
