package replica

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/quorumkv/quorumkv/vclock"
)

// identity names one replica incarnation.
type identity struct {
	Node        string `json:"node"`
	Incarnation string `json:"incarnation"`
}

func (id identity) base() vclock.Actor {
	return vclock.Actor(id.Node + "#" + id.Incarnation)
}

func newIncarnation() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// loadIdentity reads the identity, creating a fresh incarnation when there is
// none, or when the last run stopped uncleanly: its last dots may be gone
// (never synced without fsync; with fsync, coordinated writes are
// replicated while their fsync runs, see CoordinateNoSyncWait).
func (s *Store) loadIdentity() error {
	raw, err := s.getState(keyIdentity)
	if err != nil {
		return err
	}
	clean, err := s.getState(keyClean)
	if err != nil {
		return err
	}
	var id identity
	if raw != nil {
		if err := json.Unmarshal(raw, &id); err != nil {
			return fmt.Errorf("replica: corrupt identity record: %w", err)
		}
		if id.Node != s.cfg.NodeID {
			return fmt.Errorf("%w: directory is node %q's, this is %q", ErrWrongNode, id.Node, s.cfg.NodeID)
		}
	}
	mode, err := s.getState(keyMode)
	if err != nil {
		return err
	}
	// An unclean stop may have lost the last dots this incarnation issued
	// after other replicas got them.
	renew := raw == nil || clean == nil
	if renew {
		inc, err := newIncarnation()
		if err != nil {
			return err
		}
		if raw != nil {
			s.log.Warn("unclean shutdown: starting a new incarnation", "old", id.Incarnation, "new", inc)
		}
		id = identity{Node: s.cfg.NodeID, Incarnation: inc}
		enc, _ := json.Marshal(id)
		if err := s.db.Set(keyIdentity, enc, pebble.Sync); err != nil {
			return err
		}
		// A new incarnation restarts its epochs.
		if err := s.db.Delete(keyEpoch, pebble.Sync); err != nil {
			return err
		}
	}
	s.id = id
	s.fresh = renew
	want := "sync"
	if s.cfg.NoSync {
		want = "nosync"
	}
	if string(mode) != want {
		if err := s.db.Set(keyMode, []byte(want), pebble.Sync); err != nil {
			return err
		}
	}
	// Mark the store as in use (not cleanly closed) until Close.
	if clean != nil {
		if err := s.db.Delete(keyClean, pebble.Sync); err != nil {
			return err
		}
	}
	// And in the tables, not only in the WAL: Pebble flushes the WAL it
	// replays at open, so a table may hold the marker of the last clean
	// Close; were this run's WAL then lost, the store would reopen as the
	// old incarnation with this run's writes silently gone.
	if err := s.db.Flush(); err != nil {
		return err
	}
	return s.loadEpochLease()
}

// loadEpochLease skips past every epoch an earlier run may have handed out.
func (s *Store) loadEpochLease() error {
	raw, err := s.getState(keyEpoch)
	if err != nil {
		return err
	}
	var leased uint64
	if raw != nil {
		if len(raw) != 8 {
			return errors.New("replica: corrupt epoch lease")
		}
		leased = binary.BigEndian.Uint64(raw)
	}
	s.epochNext, s.epochLeased = leased, leased
	return nil
}

// nextEpoch returns a per-key epoch never handed out before by this incarnation.
// Called with epochMu held.
func (s *Store) nextEpoch() (uint64, error) {
	if s.epochNext >= s.epochLeased {
		upto := s.epochLeased + s.cfg.EpochLease
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], upto)
		if err := s.db.Set(keyEpoch, b[:], pebble.Sync); err != nil {
			return 0, err
		}
		s.epochLeased = upto
	}
	s.epochNext++
	return s.epochNext, nil
}

func (s *Store) newEpochActor() (vclock.Actor, error) {
	s.epochMu.Lock()
	defer s.epochMu.Unlock()
	e, err := s.nextEpoch()
	if err != nil {
		return "", err
	}
	return s.id.base() + vclock.Actor("."+strconv.FormatUint(e, 36)), nil
}

// ownEpoch reports whether a is one of this incarnation's actors, and its epoch
// (0 for the base actor).
func (s *Store) ownEpoch(a vclock.Actor) (uint64, bool) {
	base := string(s.id.base())
	str := string(a)
	if str == base {
		return 0, true
	}
	rest, ok := strings.CutPrefix(str, base+".")
	if !ok {
		return 0, false
	}
	e, err := strconv.ParseUint(rest, 36, 64)
	if err != nil {
		return 0, false
	}
	return e, true
}

// Actor is this incarnation's base actor (node id and incarnation).
func (s *Store) Actor() vclock.Actor { return s.id.base() }
