package lease

import (
	"bytes"
	"errors"
	"strings"

	"github.com/quorumkv/quorumkv/vclock"
)

// Reserved is the first byte of every key the store writes for itself; a
// client's key may not start with it.
const Reserved = 0x00

// recordPrefix starts every lease key: \x00lease/{<id>}. The braces make
// the id the key's group (ring.GroupOf), so a lease's record and its
// attachments share one partition.
const recordPrefix = "\x00lease/{"

// attachInfix separates a lease's record key from an attached key.
const attachInfix = "}/k/"

// IsReserved reports whether key is in the store's own key space.
func IsReserved(key []byte) bool { return len(key) > 0 && key[0] == Reserved }

// RecordKey is the key of lease id's record.
func RecordKey(id ID) []byte {
	return append([]byte(recordPrefix), id.String()+"}"...)
}

// AttachKey is the key recording that key was written with lease id.
func AttachKey(id ID, key []byte) []byte {
	k := append([]byte(recordPrefix), id.String()+attachInfix...)
	return append(k, key...)
}

// errNotLeaseKey: a key that is neither a record nor an attachment.
var errNotLeaseKey = errors.New("not a lease key")

// ParseKey splits a lease key: the lease, and for an attachment the
// attached key (nil for a record).
func ParseKey(k []byte) (id ID, attached []byte, err error) {
	if !bytes.HasPrefix(k, []byte(recordPrefix)) {
		return 0, nil, errNotLeaseKey
	}
	rest := k[len(recordPrefix):]
	end := bytes.IndexByte(rest, '}')
	if end != 16 {
		return 0, nil, errNotLeaseKey
	}
	id, err = ParseID(string(rest[:end]))
	if err != nil {
		return 0, nil, errNotLeaseKey
	}
	switch tail := rest[end:]; {
	case len(tail) == 1:
		return id, nil, nil
	case bytes.HasPrefix(tail, []byte(attachInfix)) && len(tail) > len(attachInfix):
		return id, tail[len(attachInfix):], nil
	}
	return 0, nil, errNotLeaseKey
}

// IsLeaseKey reports whether k is a lease's record or attachment.
func IsLeaseKey(k []byte) bool { return bytes.HasPrefix(k, []byte(recordPrefix)) }

// expiredMark starts the metadata of the tombstones an expiry writes.
const expiredMark = "\x00expired/"

// ExpiredMark is the metadata an expiry of lease id writes on the
// tombstones of its keys, so a watch can tell an expiry from a delete.
func ExpiredMark(id ID) []byte { return []byte(expiredMark + id.String()) }

// ExpiredBy reports whether any tombstone of c carries an expiry's mark.
func ExpiredBy(c vclock.Clock) bool {
	for _, s := range c.Values() {
		if s.Tombstone && strings.HasPrefix(string(s.Value), expiredMark) {
			return true
		}
	}
	return false
}
