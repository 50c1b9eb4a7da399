package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Record is what a grant stores under RecordKey.
type Record struct {
	TTL time.Duration
}

// recordFormat is the first byte of an encoded Record.
const recordFormat = 1

// ErrCorrupt: a record that does not decode.
var ErrCorrupt = errors.New("corrupt lease record")

// MinTTL and MaxTTL bound a lease's ttl.
const (
	MinTTL = 500 * time.Millisecond
	MaxTTL = 24 * time.Hour
)

// ErrBadTTL: a ttl outside [MinTTL, MaxTTL].
var ErrBadTTL = errors.New("bad lease ttl")

// CheckTTL refuses a ttl a grant cannot use.
func CheckTTL(ttl time.Duration) error {
	if ttl < MinTTL || ttl > MaxTTL {
		return fmt.Errorf("%w %v: want %v to %v", ErrBadTTL, ttl, MinTTL, MaxTTL)
	}
	return nil
}

// Marshal encodes r: the format byte, then the ttl in milliseconds
// (uvarint).
func (r Record) Marshal() []byte {
	b := []byte{recordFormat}
	return binary.AppendUvarint(b, uint64(r.TTL.Milliseconds()))
}

// UnmarshalRecord decodes what Marshal wrote; anything else is ErrCorrupt.
func UnmarshalRecord(b []byte) (Record, error) {
	if len(b) < 2 || b[0] != recordFormat {
		return Record{}, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	ms, n := binary.Uvarint(b[1:])
	if n <= 0 || 1+n != len(b) {
		return Record{}, fmt.Errorf("%w: bad ttl", ErrCorrupt)
	}
	r := Record{TTL: time.Duration(ms) * time.Millisecond}
	if CheckTTL(r.TTL) != nil {
		return Record{}, fmt.Errorf("%w: ttl %v out of range", ErrCorrupt, r.TTL)
	}
	return r, nil
}

// ErrNotFound: the lease expired, was revoked or never existed.
var ErrNotFound = errors.New("lease not found")

// NotFoundError is ErrNotFound for one lease.
type NotFoundError struct{ ID ID }

func (e *NotFoundError) Error() string { return fmt.Sprintf("lease %s not found", e.ID) }
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// Live decodes the record among a record key's live values (concurrent
// grants of one id cannot happen: ids are random; the largest ttl wins if
// they did). ok is false when there is none.
func Live(values [][]byte) (r Record, ok bool) {
	for _, v := range values {
		if x, err := UnmarshalRecord(v); err == nil && x.TTL > r.TTL {
			r, ok = x, true
		}
	}
	return r, ok
}
