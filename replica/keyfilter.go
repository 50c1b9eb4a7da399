package replica

import (
	"sync"

	"github.com/bits-and-blooms/bloom/v3"
)

// keyFilter remembers, in memory, every data key this store has written,
// so a write to a key that was never written here (an insert) skips the
// storage read that would only find nothing. Its answer "absent" is
// certain; "maybe" sends the read to Pebble as before.
//
// It is a scalable Bloom filter: layers of growing capacity, each at
// keyFilterFalsePositives, added to while they have room. At maxBytes it
// stops growing and keeps adding to its last layer: false positives rise
// (more reads reach Pebble), but a written key never tests absent.
//
// Every write adds its key before the write becomes visible, under the
// key's lock, and Open adds every stored key before the store serves, so a
// key that is stored always tests present.
type keyFilter struct {
	mu       sync.RWMutex
	layers   []*bloom.BloomFilter
	capacity uint // keys the newest layer was sized for
	added    uint // keys added to the newest layer
	capped   bool // no room for another layer: the newest one is overfilled
	bytes    int64
	maxBytes int64
}

const (
	keyFilterFirstLayer     = 1 << 20 // keys
	keyFilterFalsePositives = 0.01
)

// newKeyFilter is a filter whose first layer holds firstLayer keys (it
// always has that layer, whatever maxBytes).
func newKeyFilter(firstLayer uint, maxBytes int64) *keyFilter {
	f := &keyFilter{maxBytes: maxBytes}
	f.grow(firstLayer)
	return f
}

// grow adds a layer sized for n keys.
func (f *keyFilter) grow(n uint) {
	l := bloom.NewWithEstimates(n, keyFilterFalsePositives)
	f.layers = append(f.layers, l)
	f.capacity, f.added = n, 0
	f.bytes += int64(l.Cap() / 8)
}

// add records that key may be stored.
func (f *keyFilter) add(key []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.added >= f.capacity && !f.capped {
		if f.roomFor(2 * f.capacity) {
			f.grow(2 * f.capacity)
		} else {
			f.capped = true
		}
	}
	f.layers[len(f.layers)-1].Add(key)
	f.added++
}

// roomFor reports whether a layer for n more keys fits in maxBytes.
func (f *keyFilter) roomFor(n uint) bool {
	m, _ := bloom.EstimateParameters(n, keyFilterFalsePositives)
	return f.bytes+int64(m/8) <= f.maxBytes
}

// mayContain is false only for a key never added.
func (f *keyFilter) mayContain(key []byte) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for i := len(f.layers) - 1; i >= 0; i-- { // newest first: recent keys are hot
		if f.layers[i].Test(key) {
			return true
		}
	}
	return false
}

// size is the filter's memory in bytes.
func (f *keyFilter) size() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.bytes
}
