package replica

import (
	"encoding/binary"
)

// The key layout of the node's Pebble instance. This file is the only
// place a prefix is chosen; doc.go describes the layout as a whole.
const (
	dataPrefix  = "d/" // d/<partition:be16>/<segment:be16>/<key> → encoded vclock.Clock
	tombPrefix  = "t/" // t/<partition:be16>/<key> → unix ns the tombstones-only state was last changed
	hintsPrefix = "h/" // h/… → the hint store's keys (hintedhandoff)
	logPrefix   = "c/" // c/<partition:be16>/<seq:be64> → key: the change log (changelog.go)
	leasePrefix = "l/" // l/<partition:be16>/<key> → empty: the lease keys (records, attachments) held
	// registerSpace: p/<partition:be16>/<kind:u8><key> → encoded paxos.Record
	registerSpace = "p/"

	// s/… is node state; each key is named below.
	transferPrefix       = "s/transfer/" // s/transfer/… → partition transfer's state (node)
	legacyTransferPrefix = "s/handoff/"  // where data directories written before kept it
)

// State keys (s/…). They live in the same Pebble instance as the data, so a
// wiped data directory also loses them and the node takes a new incarnation.
var (
	keyIdentity = []byte("s/identity")
	keyEpoch    = []byte("s/epoch")
	keyClean    = []byte("s/clean")
	keyMode     = []byte("s/mode") // "sync" or "nosync": how the last run wrote
	keyRingDoc  = []byte("s/ring")
)

// registerPrefix is p/<partition:be16>/.
func registerPrefix(p int) []byte {
	k := make([]byte, 0, 5)
	k = append(k, registerSpace...)
	k = binary.BigEndian.AppendUint16(k, uint16(p))
	return append(k, '/')
}

// floorKey is s/pfloor/<partition:be16>: the partition's ballot floor (an
// encoded paxos.Record whose promise is the floor).
func floorKey(p int) []byte {
	return binary.BigEndian.AppendUint16([]byte("s/pfloor/"), uint16(p))
}

// paxosEpochKey is s/pepoch/<partition:be16>: the largest ring epoch a Paxos
// message for the partition carried (u64).
func paxosEpochKey(p int) []byte {
	return binary.BigEndian.AppendUint16([]byte("s/pepoch/"), uint16(p))
}

// partitionPrefix is d/<partition:be16>/.
func partitionPrefix(p int) []byte {
	k := make([]byte, 0, 5)
	k = append(k, dataPrefix...)
	k = binary.BigEndian.AppendUint16(k, uint16(p))
	return append(k, '/')
}

// segmentKey is d/<partition:be16>/<segment:be16>/<key>: a partition is one
// contiguous range, and so is each anti-entropy segment within it.
func segmentKey(p, seg int, key []byte) []byte {
	k := make([]byte, 0, dataKeyHeader+len(key))
	k = append(k, partitionPrefix(p)...)
	k = binary.BigEndian.AppendUint16(k, uint16(seg))
	k = append(k, '/')
	return append(k, key...)
}

// dataKeyHeader is the length of a data key's prefix before the client's
// key: len("d/") + 2 + len("/") + 2 + len("/").
const dataKeyHeader = 8

// dataKeyPartition is the partition of data key k (at least dataKeyHeader
// long).
func dataKeyPartition(k []byte) int {
	return int(binary.BigEndian.Uint16(k[len(dataPrefix) : len(dataPrefix)+2]))
}

// leaseIndexKey is l/<partition:be16>/<key>; with a nil key, the prefix
// of p's lease index.
func leaseIndexKey(p int, key []byte) []byte {
	k := make([]byte, 0, 5+len(key))
	k = append(k, leasePrefix...)
	k = binary.BigEndian.AppendUint16(k, uint16(p))
	k = append(k, '/')
	return append(k, key...)
}

// tombKey is t/<partition:be16>/<key>; with a nil key, the prefix of p's
// tombstone index.
func tombKey(p int, key []byte) []byte {
	k := make([]byte, 0, 5+len(key))
	k = append(k, tombPrefix...)
	k = binary.BigEndian.AppendUint16(k, uint16(p))
	k = append(k, '/')
	return append(k, key...)
}

// Hints returns the key space the hint store keeps its hints in.
func (s *Store) Hints() *Space { return s.space(hintsPrefix) }
