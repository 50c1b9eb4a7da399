package antientropy

import (
	"context"
	"errors"
	"fmt"
)

// Object is one key's stored state as it crosses between replicas.
type Object struct {
	Key []byte
	// Clock is the canonical encoding of the key's vclock.Clock; nil if
	// the replica holds no copy of the key.
	Clock []byte
}

// Replica is the read side of one replica of partition p, the same for this
// node ([Local]) and the other replica ([Peer]). Every method may be asked
// about a partition the replica holds no data for (an empty tree).
type Replica interface {
	// Root returns the root hash of p's tree.
	Root(ctx context.Context, p int) (uint64, error)
	// Branches returns the branch hashes of p's tree.
	Branches(ctx context.Context, p int) ([Branches]uint64, error)
	// Segments returns the segment hashes of the given branches:
	// result[i] belongs to branches[i] (see [Trees.Segments]).
	Segments(ctx context.Context, p int, branches []int) ([][SegmentsPerBranch]uint64, error)
	// Keys lists every stored key of the given segments of p (ascending)
	// with its LeafHash, computed from the stored data (not the tree), in
	// CompareKeys order: the natural order of a range scan per segment.
	Keys(ctx context.Context, p int, segments []int) ([]KeyHash, error)
	// Fetch returns the stored states of a prefix of keys: result[i] is
	// keys[i], with a nil Clock when absent. It answers at least one key
	// when keys is not empty and may stop early to bound the answer's size:
	// an implementation answers the first keys whose objects fit its byte
	// bound (by [ObjectSize]; [FetchBounded] does this), a state larger
	// than the bound alone. The caller asks again for the keys after the
	// answer. A bound near [DefaultRepairBytes] keeps answers far below a
	// message limit, however many large siblings the keys hold.
	Fetch(ctx context.Context, p int, keys [][]byte) ([]Object, error)
}

// Peer is the other replica of a partition, remote (over gRPC in the node).
type Peer interface {
	Replica
	// Push makes the peer merge each object into its copy (the exchange
	// sends at most Config.RepairBytes per call, or one larger object):
	// local := vclock.Sync(local, decoded Clock), skipping unchanged keys,
	// maintaining its tree. Never mints dots, never applies sibling caps.
	Push(ctx context.Context, p int, objs []Object) error
}

// Local is this node's replica of a partition.
type Local interface {
	Replica
	// Apply merges each object into the local copy, exactly like Peer.Push
	// (and bounded like it).
	Apply(ctx context.Context, p int, objs []Object) error
}

// Defaults for Config.
const (
	DefaultMaxRepairsPerExchange = 1000
	DefaultSegmentsPerCall       = 64
	DefaultRepairBatch           = 100
	// DefaultRepairBytes is the project's batch size (api.BatchBytes, which
	// this package does not import): the byte bound of one Push or Apply
	// call, and the bound a Fetch implementation should answer within.
	DefaultRepairBytes = 4 << 20
)

// Config bounds one exchange. Zero fields take the defaults.
type Config struct {
	// MaxRepairsPerExchange bounds the keys repaired by one exchange; the
	// rest wait for the next exchange (Result.Truncated).
	MaxRepairsPerExchange int
	// SegmentsPerCall bounds the segments listed by one Keys call.
	SegmentsPerCall int
	// RepairBatch bounds the keys of one Fetch, Push or Apply call.
	RepairBatch int
	// RepairBytes bounds the objects of one Push or Apply call (by
	// ObjectSize); an object larger than it goes alone. Fetch answers are
	// bounded by the Replica (see Replica.Fetch).
	RepairBytes int
}

// Validate rejects negative bounds (zero means the default).
func (c Config) Validate() error {
	if c.MaxRepairsPerExchange < 0 || c.SegmentsPerCall < 0 || c.RepairBatch < 0 || c.RepairBytes < 0 {
		return errors.New("antientropy: config bounds must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxRepairsPerExchange == 0 {
		c.MaxRepairsPerExchange = DefaultMaxRepairsPerExchange
	}
	if c.SegmentsPerCall == 0 {
		c.SegmentsPerCall = DefaultSegmentsPerCall
	}
	if c.RepairBatch == 0 {
		c.RepairBatch = DefaultRepairBatch
	}
	if c.RepairBytes == 0 {
		c.RepairBytes = DefaultRepairBytes
	}
	return c
}

// Result describes one exchange.
type Result struct {
	// InSync is true when the roots were equal: the exchange cost one root
	// comparison and nothing else.
	InSync           bool
	RootsCompared    int // 1 once both roots were read
	BranchesCompared int // branch hashes compared
	SegmentsCompared int // segment hashes compared (of differing branches)
	KeysCompared     int // KeyHash entries listed, both sides together
	KeysDiffering    int // differing keys found in the segments listed
	KeysRepaired     int // keys whose states were exchanged
	// Truncated is true when more keys differ than MaxRepairsPerExchange;
	// another exchange will continue.
	Truncated bool
	// StaleLocal and StalePeer count listed segments whose key listing did
	// not match that side's segment hash: a stale tree (a missed Update), or
	// writes racing the exchange. If it persists, rebuild that tree.
	StaleLocal, StalePeer int
}

// Exchange compares partition p between local and peer and repairs, in
// both directions, up to cfg.MaxRepairsPerExchange differing keys: it
// compares the roots; if they differ, the branch hashes; for differing
// branches only, the segment hashes; for differing segments only, the key
// listings of both sides; then for each differing key it fetches both
// states, pushes the local state to the peer and applies the peer's state
// locally, in batches bounded by keys and bytes (a key whose siblings are
// larger than a batch goes alone). Both sides merge with vclock.Sync, so
// afterwards both hold the merge. Equal partitions cost one root call per
// side.
//
// Which differing keys are repaired first rotates with the local root, so
// keys that keep changing do not starve the rest. On error the Result
// counts the work done so far.
func Exchange(ctx context.Context, cfg Config, p int, local Local, peer Peer) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	x := &exchange{ctx: ctx, cfg: cfg.withDefaults(), p: p, local: local, peer: peer}
	err := x.run()
	if err != nil {
		err = fmt.Errorf("antientropy: exchange of partition %d: %w", p, err)
	}
	return x.res, err
}

// exchange is the state of one Exchange call.
type exchange struct {
	ctx   context.Context
	cfg   Config
	p     int
	local Local
	peer  Peer
	res   Result

	root       uint64         // local root, seeds the rotation
	lseg, pseg map[int]uint64 // segment hashes of differing branches
	diff       [][]byte       // differing keys found so far
}

func (x *exchange) run() error {
	equal, err := x.compareRoots()
	if err != nil || equal {
		return err
	}
	segs, err := x.diffSegments()
	if err != nil {
		return err
	}
	if err := x.listKeys(rotate(segs, x.root)); err != nil {
		return err
	}
	return x.repair()
}

func (x *exchange) compareRoots() (bool, error) {
	lr, err := x.local.Root(x.ctx, x.p)
	if err != nil {
		return false, fmt.Errorf("local root: %w", err)
	}
	pr, err := x.peer.Root(x.ctx, x.p)
	if err != nil {
		return false, fmt.Errorf("peer root: %w", err)
	}
	x.root = lr
	x.res.RootsCompared = 1
	x.res.InSync = lr == pr
	return x.res.InSync, nil
}

// diffSegments descends from the branches to the differing segments.
func (x *exchange) diffSegments() ([]int, error) {
	lb, err := x.local.Branches(x.ctx, x.p)
	if err != nil {
		return nil, fmt.Errorf("local branches: %w", err)
	}
	pb, err := x.peer.Branches(x.ctx, x.p)
	if err != nil {
		return nil, fmt.Errorf("peer branches: %w", err)
	}
	x.res.BranchesCompared = Branches
	branches := DiffBranches(lb, pb)
	if len(branches) == 0 {
		return nil, nil // changed under us: nothing to do this time
	}
	ls, err := x.segmentHashes(x.local, "local", branches)
	if err != nil {
		return nil, err
	}
	ps, err := x.segmentHashes(x.peer, "peer", branches)
	if err != nil {
		return nil, err
	}
	x.res.SegmentsCompared = len(branches) * SegmentsPerBranch
	x.lseg, x.pseg = segmentMap(branches, ls), segmentMap(branches, ps)
	return DiffSegments(branches, ls, ps), nil
}

func (x *exchange) segmentHashes(r Replica, side string, branches []int) ([][SegmentsPerBranch]uint64, error) {
	hs, err := r.Segments(x.ctx, x.p, branches)
	if err != nil {
		return nil, fmt.Errorf("%s segments: %w", side, err)
	}
	if len(hs) != len(branches) {
		return nil, fmt.Errorf("%s segments: %d answers for %d branches", side, len(hs), len(branches))
	}
	return hs, nil
}

func segmentMap(branches []int, hs [][SegmentsPerBranch]uint64) map[int]uint64 {
	m := make(map[int]uint64, len(branches)*SegmentsPerBranch)
	for i, b := range branches {
		for j, h := range hs[i] {
			m[b*SegmentsPerBranch+j] = h
		}
	}
	return m
}

// rotate returns segs rotated to start at an index chosen by seed.
func rotate(segs []int, seed uint64) []int {
	if len(segs) == 0 {
		return segs
	}
	k := int(seed % uint64(len(segs)))
	return append(append(make([]int, 0, len(segs)), segs[k:]...), segs[:k]...)
}

// listKeys lists the given segments on both sides, batch by batch, and
// collects the differing keys until more than the repair bound are known.
func (x *exchange) listKeys(segs []int) error {
	for len(segs) > 0 && len(x.diff) <= x.cfg.MaxRepairsPerExchange {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n := min(len(segs), x.cfg.SegmentsPerCall)
		if err := x.listBatch(sortedCopy(segs[:n])); err != nil {
			return err
		}
		segs = segs[n:]
	}
	x.res.Truncated = len(x.diff) > x.cfg.MaxRepairsPerExchange || len(segs) > 0
	return nil
}

func (x *exchange) listBatch(segs []int) error {
	lk, err := x.keys(x.local, "local", segs, x.lseg, &x.res.StaleLocal)
	if err != nil {
		return err
	}
	pk, err := x.keys(x.peer, "peer", segs, x.pseg, &x.res.StalePeer)
	if err != nil {
		return err
	}
	n := len(x.diff)
	for i := range segs {
		x.diff = diffRun(lk[i], pk[i], x.diff)
	}
	x.res.KeysDiffering += len(x.diff) - n
	return nil
}

// keys lists segs on r, checks the listing, splits it by segment and
// counts the segments whose listing disagrees with r's segment hashes.
func (x *exchange) keys(r Replica, side string, segs []int, hashes map[int]uint64, stale *int) ([][]KeyHash, error) {
	ks, err := r.Keys(x.ctx, x.p, segs)
	if err != nil {
		return nil, fmt.Errorf("%s keys: %w", side, err)
	}
	x.res.KeysCompared += len(ks)
	runs, err := splitListing(ks, segs)
	if err != nil {
		return nil, fmt.Errorf("%s keys: %w", side, err)
	}
	for i, s := range segs {
		if xorHashes(runs[i]) != hashes[s] {
			*stale++
		}
	}
	return runs, nil
}

// repair exchanges the states of the first MaxRepairsPerExchange
// differing keys. A local Fetch asks for up to RepairBatch keys; the peer is
// asked for the keys the local side answered (Fetch may answer a prefix,
// bounded by bytes), and the keys both sides answered are repaired. The
// local states the peer did not get to wait for the next peer Fetch, which
// starts after the last key repaired.
func (x *exchange) repair() error {
	keys := x.diff[:min(len(x.diff), x.cfg.MaxRepairsPerExchange)]
	var local []Object // local states of keys[:len(local)]
	for len(keys) > 0 {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		if len(local) == 0 {
			lo, err := x.fetch(x.local, "local", keys[:min(len(keys), x.cfg.RepairBatch)])
			if err != nil {
				return err
			}
			local = lo
		}
		po, err := x.fetch(x.peer, "peer", keys[:len(local)])
		if err != nil {
			return err
		}
		n := len(po)
		if err := x.repairStates(local[:n], po); err != nil {
			return err
		}
		local, keys = local[n:], keys[n:]
	}
	return nil
}

// repairStates pushes the local states that differ to the peer and applies
// the peer's locally, each in calls of at most RepairBytes.
func (x *exchange) repairStates(lo, po []Object) error {
	push, apply, n := repairsFor(lo, po)
	for _, b := range splitBytes(push, x.cfg.RepairBytes) {
		if err := x.peer.Push(x.ctx, x.p, b); err != nil {
			return fmt.Errorf("push: %w", err)
		}
	}
	for _, b := range splitBytes(apply, x.cfg.RepairBytes) {
		if err := x.local.Apply(x.ctx, x.p, b); err != nil {
			return fmt.Errorf("apply: %w", err)
		}
	}
	x.res.KeysRepaired += n
	return nil
}

func (x *exchange) fetch(r Replica, side string, keys [][]byte) ([]Object, error) {
	objs, err := r.Fetch(x.ctx, x.p, keys)
	if err != nil {
		return nil, fmt.Errorf("%s fetch: %w", side, err)
	}
	if err := checkFetched(objs, keys); err != nil {
		return nil, fmt.Errorf("%s fetch: %w", side, err)
	}
	return objs, nil
}
