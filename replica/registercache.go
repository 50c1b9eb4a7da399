package replica

import (
	"strings"
	"sync"

	"github.com/quorumkv/quorumkv/paxos"
)

// registerStripe is one lock of the registers hashed to it and the records
// of those registers last read or written under it: an acceptor step
// reads a register it has just written from memory instead of from
// Pebble. Every write of a register's key happens under its stripe's lock
// and updates or drops the cached record (step, RaiseFloorAndRemove,
// DropPartition), so a cached record is always the stored one.
type registerStripe struct {
	mu    sync.Mutex
	recs  map[string]cachedRecord
	bytes int
}

type cachedRecord struct {
	rec   paxos.Record
	found bool
	size  int
}

// stripeCacheBytes bounds the encoded records one stripe caches (about
// 32 MiB for all stripes); larger records are not cached.
const stripeCacheBytes = 32 << 10

// get returns the cached record of sk. The stripe's lock is held.
func (st *registerStripe) get(sk []byte) (cachedRecord, bool) {
	c, ok := st.recs[string(sk)]
	return c, ok
}

// put caches rec as sk's stored record (size: its encoded length),
// evicting others while the stripe is over its bound. The stripe's lock
// is held.
func (st *registerStripe) put(sk []byte, rec paxos.Record, found bool, size int) {
	st.drop(sk)
	if size > stripeCacheBytes/4 {
		return
	}
	for k, c := range st.recs {
		if st.bytes+size <= stripeCacheBytes {
			break
		}
		delete(st.recs, k)
		st.bytes -= c.size
	}
	if st.recs == nil {
		st.recs = map[string]cachedRecord{}
	}
	st.recs[string(sk)] = cachedRecord{rec: rec, found: found, size: size}
	st.bytes += size
}

// drop forgets sk's cached record. The stripe's lock is held.
func (st *registerStripe) drop(sk []byte) {
	if c, ok := st.recs[string(sk)]; ok {
		delete(st.recs, string(sk))
		st.bytes -= c.size
	}
}

// dropPrefix forgets every cached record whose key starts with prefix.
// The stripe's lock is held.
func (st *registerStripe) dropPrefix(prefix []byte) {
	for k, c := range st.recs {
		if strings.HasPrefix(k, string(prefix)) {
			delete(st.recs, k)
			st.bytes -= c.size
		}
	}
}

func (r *registerState) partitionLock(p int) *sync.Mutex { return &r.plocks[p%lockStripes] }

// cachedRegister returns sk's record from st's cache, or reads it from
// Pebble and caches it, with its encoded size. st's lock is held.
func (s *Store) cachedRegister(st *registerStripe, sk []byte) (rec paxos.Record, found bool, size int, err error) {
	if c, ok := st.get(sk); ok {
		return c.rec, c.found, c.size, nil
	}
	rec, found, size, err = s.readRegisterSized(sk)
	if err == nil {
		st.put(sk, rec, found, size)
	}
	return rec, found, size, err
}
