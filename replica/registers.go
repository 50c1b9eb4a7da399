package replica

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"

	"github.com/quorumkv/quorumkv/paxos"
)

// Registers: the acceptor state of linearizable registers (package paxos),
// a key space of its own. Every acceptor step is a read-modify-write under
// the register's lock, persisted and synced (even when the store's data
// writes are not) before it returns, so a reply never reports a promise or an accept
// a crash could take back. Nothing here deletes a register but
// RaiseFloorAndRemove (collection) and DropPartition.

// RegisterKey names a register: its partition, its kind (the namespace:
// serial registers, locks) and its key.
type RegisterKey struct {
	Partition int
	Kind      byte
	Key       []byte
}

// MaxRegisterState is the largest encoded register state the store keeps.
const MaxRegisterState = 2 << 20

var (
	// ErrRegisterTooLarge refuses an accept of a state larger than
	// MaxRegisterState.
	ErrRegisterTooLarge = errors.New("replica: register state too large")
)

// StaleEpochError refuses a Paxos message whose ring epoch is below the
// largest one a message for the partition carried (Epoch).
type StaleEpochError struct{ Epoch uint64 }

func (e *StaleEpochError) Error() string {
	return fmt.Sprintf("replica: stale ring epoch: the partition has seen epoch %d", e.Epoch)
}

// registerState is the in-memory cache of each partition's floors and
// epochs, and the registers' lock stripes with their cached records.
type registerState struct {
	mu      sync.Mutex
	floors  map[int]paxos.Ballot
	epochs  map[int]uint64
	stripes [lockStripes]registerStripe
	// plocks order the epoch-floor raises of a partition.
	plocks [lockStripes]sync.Mutex
}

func (k RegisterKey) storageKey() []byte {
	out := registerPrefix(k.Partition)
	out = append(out, k.Kind)
	return append(out, k.Key...)
}

func (r *registerState) stripe(k []byte) *registerStripe {
	return &r.stripes[xxhash.Sum64(k)%lockStripes]
}

// Register returns the register's record (the zero Record when absent).
func (s *Store) Register(k RegisterKey) (paxos.Record, error) {
	if err := s.enter(); err != nil {
		return paxos.Record{}, err
	}
	defer s.exit()
	rec, _, err := s.readRegister(k.storageKey())
	return rec, err
}

func (s *Store) readRegister(sk []byte) (rec paxos.Record, found bool, err error) {
	rec, found, _, err = s.readRegisterSized(sk)
	return rec, found, err
}

func (s *Store) readRegisterSized(sk []byte) (rec paxos.Record, found bool, size int, err error) {
	v, closer, err := s.db.Get(sk)
	if errors.Is(err, pebble.ErrNotFound) {
		return paxos.Record{}, false, 0, nil
	}
	if err != nil {
		return paxos.Record{}, false, 0, err
	}
	defer closer.Close()
	rec, err = paxos.DecodeRecord(v)
	if err != nil {
		return paxos.Record{}, false, 0, fmt.Errorf("replica: stored register %q: %w", sk, err)
	}
	return rec, true, len(v), nil
}

// PaxosFloor returns partition p's ballot floor.
func (s *Store) PaxosFloor(p int) (paxos.Ballot, error) {
	if err := s.enter(); err != nil {
		return paxos.Ballot{}, err
	}
	defer s.exit()
	return s.floor(p)
}

// PaxosEpoch returns the largest ring epoch a Paxos message for p carried.
func (s *Store) PaxosEpoch(p int) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.exit()
	return s.paxosEpoch(p)
}

func (s *Store) floor(p int) (paxos.Ballot, error) {
	r := &s.regs
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.floors[p]; ok {
		return f, nil
	}
	v, err := s.getState(floorKey(p))
	if err != nil {
		return paxos.Ballot{}, err
	}
	var f paxos.Ballot
	if v != nil {
		rec, err := paxos.DecodeRecord(v)
		if err != nil {
			return paxos.Ballot{}, fmt.Errorf("replica: floor of partition %d: %w", p, err)
		}
		f = rec.Promise
	}
	if r.floors == nil {
		r.floors = map[int]paxos.Ballot{}
	}
	r.floors[p] = f
	return f, nil
}

func (s *Store) paxosEpoch(p int) (uint64, error) {
	r := &s.regs
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.epochs[p]; ok {
		return e, nil
	}
	v, err := s.getState(paxosEpochKey(p))
	if err != nil {
		return 0, err
	}
	var e uint64
	if len(v) == 8 {
		e = binary.BigEndian.Uint64(v)
	}
	if r.epochs == nil {
		r.epochs = map[int]uint64{}
	}
	r.epochs[p] = e
	return e, nil
}

// anyEpoch is the epoch of a step no ring epoch applies to (a copy).
const anyEpoch = 0

// step is one acceptor step on a register: it checks the epoch (unless it
// is anyEpoch), reads the record and the floor, runs fn and persists what
// fn says to write, with the epoch floor raised when the message's epoch is
// newer.
func (s *Store) step(k RegisterKey, epoch uint64, fn func(rec paxos.Record, floor paxos.Ballot) (paxos.Record, bool)) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	sk := k.storageKey()
	st := s.regs.stripe(sk)
	st.mu.Lock()
	defer st.mu.Unlock()
	// The epoch floor is raised under the partition's lock, so two raises
	// commit in order; the ballot floor is read under the register's lock,
	// which collection holds while it raises it.
	pmu := s.regs.partitionLock(k.Partition)
	pmu.Lock()
	defer pmu.Unlock()
	seen, err := s.paxosEpoch(k.Partition)
	if err != nil {
		return err
	}
	if epoch == anyEpoch {
		epoch = seen
	}
	if epoch < seen {
		return &StaleEpochError{Epoch: seen}
	}
	floor, err := s.floor(k.Partition)
	if err != nil {
		return err
	}
	rec, found, size, err := s.cachedRegister(st, sk)
	if err != nil {
		return err
	}
	next, write := fn(rec, floor)
	if !write && epoch == seen {
		return nil
	}
	if err := s.disk.admit(); err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	var enc []byte
	if write {
		enc = paxos.EncodeRecord(next)
		if err := b.Set(sk, enc, nil); err != nil {
			return err
		}
	}
	if epoch > seen {
		if err := b.Set(paxosEpochKey(k.Partition), binary.BigEndian.AppendUint64(nil, epoch), nil); err != nil {
			return err
		}
	}
	if err := s.disk.failed(b.Commit(pebble.Sync)); err != nil {
		st.drop(sk) // the write may or may not be stored
		return err
	}
	if write {
		st.put(sk, next, true, len(enc))
	} else {
		st.put(sk, rec, found, size)
	}
	if epoch > seen {
		s.regs.mu.Lock()
		s.regs.epochs[k.Partition] = max(s.regs.epochs[k.Partition], epoch)
		s.regs.mu.Unlock()
	}
	if write && !found {
		s.countKeys(k.Partition, 1)
	}
	return nil
}

// Prepare runs the acceptor's prepare at b for the register (epoch: the
// ring epoch the message carried).
func (s *Store) Prepare(k RegisterKey, epoch uint64, b paxos.Ballot) (paxos.PrepareReply, error) {
	var reply paxos.PrepareReply
	err := s.step(k, epoch, func(rec paxos.Record, floor paxos.Ballot) (paxos.Record, bool) {
		next, r, write := paxos.Prepare(rec, floor, b)
		reply = r
		return next, write
	})
	return reply, err
}

// Accept runs the acceptor's accept of st at b, promise piggybacked.
func (s *Store) Accept(k RegisterKey, epoch uint64, b paxos.Ballot, st paxos.State, promise paxos.Ballot) (paxos.AcceptReply, error) {
	if len(paxos.EncodeState(st)) > MaxRegisterState {
		return paxos.AcceptReply{}, ErrRegisterTooLarge
	}
	var reply paxos.AcceptReply
	err := s.step(k, epoch, func(rec paxos.Record, floor paxos.Ballot) (paxos.Record, bool) {
		next, r, write := paxos.Accept(rec, floor, b, st, promise)
		reply = r
		return next, write
	})
	return reply, err
}

// ScanRegisters calls fn with every register of partition p, in key order.
func (s *Store) ScanRegisters(p int, fn func(k RegisterKey, rec paxos.Record) error) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	lower := registerPrefix(p)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		sk := it.Key()
		if len(sk) <= len(lower) {
			continue
		}
		rec, err := paxos.DecodeRecord(it.Value())
		if err != nil {
			_ = it.Close()
			return fmt.Errorf("replica: stored register %q: %w", sk, err)
		}
		k := RegisterKey{Partition: p, Kind: sk[len(lower)], Key: bytes.Clone(sk[len(lower)+1:])}
		if err := fn(k, rec); err != nil {
			_ = it.Close()
			return err
		}
	}
	return errorsJoinClose(it)
}

// RaiseFloorAndRemove is collection's last step on this replica, in one
// durable batch: partition p's floor becomes at least floor, and each
// register named in remove (by Kind followed by Key) whose accepted ballot
// is still the given one and whose state is a deleted one is removed. The
// floor is also raised past every removed record's promise, so removing a
// record never lowers what its acceptor promised.
func (s *Store) RaiseFloorAndRemove(p int, floor paxos.Ballot, remove map[string]paxos.Ballot) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.exit()
	if err := s.disk.admit(); err != nil {
		return err
	}
	cur, err := s.floor(p)
	if err != nil {
		return err
	}
	held := s.lockAllRegisters()
	defer held()
	b := s.db.NewBatch()
	defer b.Close()
	newFloor := maxBallot(cur, floor)
	removed := 0
	for name, ballot := range remove {
		sk := append(registerPrefix(p), name...)
		rec, found, err := s.readRegister(sk)
		if err != nil {
			return err
		}
		if !found || rec.Accepted != ballot || rec.State.Exists || len(rec.State.Fences) > 0 || rec.State.Lock.Token > 0 {
			continue // a fence or a lock's token must outlive the value
		}
		newFloor = maxBallot(newFloor, rec.Promise, rec.Accepted)
		if err := b.Delete(sk, nil); err != nil {
			return err
		}
		// Dropped whether or not the batch commits: the next step reads
		// whatever is stored.
		s.regs.stripe(sk).drop(sk)
		removed++
	}
	if err := b.Set(floorKey(p), paxos.EncodeRecord(paxos.Record{Promise: newFloor}), nil); err != nil {
		return err
	}
	if err := s.disk.failed(b.Commit(pebble.Sync)); err != nil {
		return err
	}
	s.setFloor(p, newFloor)
	if removed > 0 {
		s.countKeys(p, -int64(removed))
	}
	return nil
}

// RaiseFloor makes partition p's floor at least floor (a replica that gains
// the partition adopts the floor of those it copies from).
func (s *Store) RaiseFloor(p int, floor paxos.Ballot) error {
	return s.RaiseFloorAndRemove(p, floor, nil)
}

func (s *Store) setFloor(p int, f paxos.Ballot) {
	s.regs.mu.Lock()
	defer s.regs.mu.Unlock()
	if s.regs.floors == nil {
		s.regs.floors = map[int]paxos.Ballot{}
	}
	s.regs.floors[p] = maxBallot(s.regs.floors[p], f)
}

// InstallRegister merges a record copied from another replica into this
// one (a replica that gains or refills the partition, before it serves as
// its acceptor): the greater accepted ballot wins with its state, and the
// greater promise is kept. Synced.
func (s *Store) InstallRegister(k RegisterKey, in paxos.Record) error {
	if len(paxos.EncodeState(in.State)) > MaxRegisterState {
		return ErrRegisterTooLarge
	}
	return s.step(k, anyEpoch, func(rec paxos.Record, _ paxos.Ballot) (paxos.Record, bool) {
		next := rec
		if rec.Accepted.Less(in.Accepted) {
			next.Accepted, next.State = in.Accepted, in.State
		}
		next.Promise = maxBallot(rec.Promise, in.Promise, next.Accepted)
		return next, next.Promise != rec.Promise || next.Accepted != rec.Accepted
	})
}

// lockAllRegisters takes every register lock; the returned func releases
// them.
func (s *Store) lockAllRegisters() func() {
	for i := range s.regs.stripes {
		s.regs.stripes[i].mu.Lock()
	}
	return func() {
		for i := range s.regs.stripes {
			s.regs.stripes[i].mu.Unlock()
		}
	}
}

// dropCachedRegisters forgets the cached records of partition p's
// registers. Every register lock is held.
func (s *Store) dropCachedRegisters(p int) {
	prefix := registerPrefix(p)
	for i := range s.regs.stripes {
		s.regs.stripes[i].dropPrefix(prefix)
	}
}

// countRegisters counts the stored registers at open (they are keys: a
// store holding only registers holds data).
func (s *Store) countRegisters() error {
	lower := []byte(registerSpace)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: prefixEnd(lower)})
	if err != nil {
		return err
	}
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); len(k) >= len(registerSpace)+2 {
			s.countKeys(int(binary.BigEndian.Uint16(k[len(registerSpace):])), 1)
		}
	}
	return errorsJoinClose(it)
}

func maxBallot(a paxos.Ballot, bs ...paxos.Ballot) paxos.Ballot {
	for _, b := range bs {
		if a.Less(b) {
			a = b
		}
	}
	return a
}
