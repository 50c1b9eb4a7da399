package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
)

// Key distributions.
const (
	DistUniform    = "uniform"
	DistZipfian    = "zipfian"
	DistLatest     = "latest"
	DistSequential = "sequential"
)

// Distributions lists the key distributions a run accepts.
var Distributions = []string{DistUniform, DistZipfian, DistLatest, DistSequential}

// ZipfianTheta is YCSB's zipfian constant.
const ZipfianTheta = 0.99

// YCSB's scrambled zipfian draws from a zipfian over this many items (with
// this precomputed zeta for theta 0.99) and hashes the draw into the key
// space, so the popular keys are spread over it rather than clustered at 0.
const (
	scrambledItems = 10_000_000_000
	scrambledZetan = 26.46902820178302
)

// KeyChooser picks the key number of the next read or update. A chooser
// belongs to one client; the rand source is the client's own.
type KeyChooser interface {
	Next(r *rand.Rand) int64
}

// keySpace is the state clients share: the next key to insert, which inserts
// have finished (so reads skewed to the latest keys only pick keys that were
// written), and the sequential cursor.
type keySpace struct {
	records int64
	next    atomic.Int64 // next key number to insert
	seq     atomic.Int64 // sequential distribution cursor
	acked   ackCounter

	zipfOnce sync.Once
	zipf     *zipfian // the latest distribution's zipfian at the start
}

// newKeySpace: keys [0, loaded) already exist; inserts start at loaded.
func newKeySpace(records, loaded int64) *keySpace {
	ks := &keySpace{records: records}
	ks.next.Store(loaded)
	ks.acked.limit = loaded
	return ks
}

// latestZipfian returns a copy of the zipfian over the keys that exist at
// the start (computing its zeta once: O(records)).
func (ks *keySpace) latestZipfian() *zipfian {
	ks.zipfOnce.Do(func() { ks.zipf = newZipfian(max(ks.acked.last(), 1), ZipfianTheta) })
	z := *ks.zipf
	return &z
}

// nextInsert claims the next key number to insert.
func (ks *keySpace) nextInsert() int64 { return ks.next.Add(1) - 1 }

// ackCounter tracks finished inserts: every key below limit is done, even
// when inserts finish out of order (YCSB's AcknowledgedCounterGenerator).
type ackCounter struct {
	mu      sync.Mutex
	limit   int64
	pending map[int64]struct{}
}

func (a *ackCounter) ack(k int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if k < a.limit {
		return
	}
	if k > a.limit {
		if a.pending == nil {
			a.pending = make(map[int64]struct{})
		}
		a.pending[k] = struct{}{}
		return
	}
	a.limit++
	for {
		if _, ok := a.pending[a.limit]; !ok {
			return
		}
		delete(a.pending, a.limit)
		a.limit++
	}
}

// last is the newest key number below which every insert finished, or -1.
func (a *ackCounter) last() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit - 1
}

// NewKeyChooser returns a chooser of dist over [0, records). latest and
// sequential read the shared key space.
func newKeyChooser(dist string, ks *keySpace) (KeyChooser, error) {
	switch dist {
	case DistUniform:
		return uniform{n: ks.records}, nil
	case DistZipfian:
		return NewScrambledZipfian(ks.records), nil
	case DistLatest:
		return &latest{ks: ks, z: ks.latestZipfian()}, nil
	case DistSequential:
		return sequential{ks: ks}, nil
	}
	return nil, fmt.Errorf("unknown key distribution %q (want uniform, zipfian, latest or sequential)", dist)
}

type uniform struct{ n int64 }

func (u uniform) Next(r *rand.Rand) int64 { return r.Int64N(u.n) }

type sequential struct{ ks *keySpace }

func (s sequential) Next(*rand.Rand) int64 { return (s.ks.seq.Add(1) - 1) % s.ks.records }

// zipfian is YCSB's ZipfianGenerator (Gray et al., "Quickly generating
// billion-record synthetic databases"): item 0 is the most popular, item i has
// probability proportional to 1/(i+1)^theta. The item count may grow (zeta is
// extended incrementally), as it does under the latest distribution.
type zipfian struct {
	items        int64
	theta, alpha float64
	zeta2, zetan float64
	eta          float64
}

func newZipfian(items int64, theta float64) *zipfian {
	return newZipfianZeta(items, theta, zeta(0, items, theta, 0))
}

func newZipfianZeta(items int64, theta, zetan float64) *zipfian {
	z := &zipfian{items: items, theta: theta, alpha: 1 / (1 - theta), zeta2: zeta(0, 2, theta, 0), zetan: zetan}
	z.setEta()
	return z
}

func (z *zipfian) setEta() {
	z.eta = (1 - math.Pow(2/float64(z.items), 1-z.theta)) / (1 - z.zeta2/z.zetan)
}

// zeta extends sum: the sum of 1/i^theta for i in (from, to].
func zeta(from, to int64, theta, sum float64) float64 {
	for i := from + 1; i <= to; i++ {
		sum += 1 / math.Pow(float64(i), theta)
	}
	return sum
}

// grow extends the item count (never shrinks it).
func (z *zipfian) grow(items int64) {
	if items <= z.items {
		return
	}
	z.zetan = zeta(z.items, items, z.theta, z.zetan)
	z.items = items
	z.setEta()
}

// Next draws from [0, items).
func (z *zipfian) Next(r *rand.Rand) int64 {
	u := r.Float64()
	uz := u * z.zetan
	if uz < 1 {
		return 0
	}
	if uz < 1+math.Pow(0.5, z.theta) {
		return 1
	}
	v := int64(float64(z.items) * math.Pow(z.eta*u-z.eta+1, z.alpha))
	return min(v, z.items-1)
}

// ScrambledZipfian is YCSB's ScrambledZipfianGenerator: a zipfian draw over
// ten billion items, hashed (FNV-1a 64) into [0, n).
type ScrambledZipfian struct {
	n int64
	z *zipfian
}

// NewScrambledZipfian returns YCSB's scrambled zipfian over [0, n), theta 0.99.
func NewScrambledZipfian(n int64) *ScrambledZipfian {
	return &ScrambledZipfian{n: n, z: newZipfianZeta(scrambledItems, ZipfianTheta, scrambledZetan)}
}

// Next draws a key number.
func (s *ScrambledZipfian) Next(r *rand.Rand) int64 {
	return int64(fnv64(uint64(s.z.Next(r))) % uint64(s.n))
}

// fnv64 is YCSB's Utils.fnvhash64: FNV-1a over the value's 8 bytes, low first.
func fnv64(v uint64) uint64 {
	h := uint64(0xCBF29CE484222325)
	for range 8 {
		h ^= v & 0xff
		h *= 1099511628211
		v >>= 8
	}
	return h
}

// latest is YCSB's SkewedLatestGenerator: the newest finished insert is the
// most popular key, the one before it next, and so on (zipfian by age).
type latest struct {
	ks *keySpace
	z  *zipfian
}

func (l *latest) Next(r *rand.Rand) int64 {
	last := l.ks.acked.last()
	if last < 1 {
		return max(last, 0)
	}
	l.z.grow(last)
	return last - l.z.Next(r) // in (0, last]
}

// keyName formats key number n: the prefix and n zero-padded to 12 digits.
func keyName(prefix string, n int64) []byte {
	b := make([]byte, 0, len(prefix)+12)
	b = append(b, prefix...)
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range 12 - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}
