package replica

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Space is a key space of the node's Pebble instance with its own prefix
// (Hints, TransferState), for components that keep durable state next to
// the data so that wiping one wipes the other.
type Space struct {
	s      *Store
	prefix []byte
}

// space returns the key space under prefix (one of keys.go's).
func (s *Store) space(prefix string) *Space {
	return &Space{s: s, prefix: []byte(prefix)}
}

// TransferState returns the key space partition transfer keeps its state
// in. State left under the legacy prefix is moved into it first, in one
// durable batch, so a data directory of any age opens with its state.
func (s *Store) TransferState() (*Space, error) {
	if err := s.movePrefix(legacyTransferPrefix, transferPrefix); err != nil {
		return nil, fmt.Errorf("replica: move transfer state: %w", err)
	}
	return s.space(transferPrefix), nil
}

// movePrefix rewrites every key under from to the same key under to and
// deletes the old ones, atomically. Nothing under from: nothing to do.
func (s *Store) movePrefix(from, to string) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	lower, upper := []byte(from), prefixEnd([]byte(from))
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	for it.First(); it.Valid(); it.Next() {
		k := append([]byte(to), it.Key()[len(from):]...)
		if err := b.Set(k, it.Value(), nil); err != nil {
			it.Close()
			return err
		}
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	if err := b.DeleteRange(lower, upper, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

func (sp *Space) key(k []byte) []byte {
	return append(bytes.Clone(sp.prefix), k...)
}

// Set durably stores k=v (fsynced unless the store runs without fsync).
func (sp *Space) Set(k, v []byte) error {
	if err := sp.s.enter(); err != nil {
		return err
	}
	defer sp.s.exit()
	if err := sp.s.disk.admit(); err != nil {
		return err
	}
	return sp.s.disk.failed(sp.s.db.Set(sp.key(k), v, sp.s.wopt))
}

// Delete removes k.
func (sp *Space) Delete(k []byte) error {
	if err := sp.s.enter(); err != nil {
		return err
	}
	defer sp.s.exit()
	return sp.s.db.Delete(sp.key(k), pebble.NoSync)
}

// Scan calls fn for every key in [from, to) of this space in order (to nil:
// to the end of the space), with the space prefix stripped. fn must not keep
// k or v. Returning ErrStopScan from fn ends the scan without error.
func (sp *Space) Scan(from, to []byte, fn func(k, v []byte) error) error {
	if err := sp.s.enter(); err != nil {
		return err
	}
	defer sp.s.exit()
	upper := sp.key(to)
	if to == nil {
		upper = prefixEnd(sp.prefix)
	}
	it, err := sp.s.db.NewIter(&pebble.IterOptions{LowerBound: sp.key(from), UpperBound: upper})
	if err != nil {
		return err
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key()[len(sp.prefix):], it.Value()); err != nil {
			if errors.Is(err, ErrStopScan) {
				return nil
			}
			return err
		}
	}
	return it.Error()
}

// ErrStopScan ends a Scan early.
var ErrStopScan = errors.New("stop scan")

// prefixEnd is the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
