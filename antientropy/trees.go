package antientropy

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrRebuildAborted is returned by Rebuild.Commit (and Trees.Rebuild) when
// the rebuild was aborted, superseded by a newer rebuild of the partition,
// or the partition was Reset or Loaded meanwhile.
var ErrRebuildAborted = errors.New("antientropy: rebuild aborted")

// Trees holds one node's trees, one per partition, behind one mutex. The
// zero value is ready to use; a partition that was never updated has the
// empty tree (root 0).
type Trees struct {
	mu       sync.Mutex
	trees    map[int]*Tree
	rebuilds map[int]*Rebuild
}

// tree returns p's tree, creating it. Called with ts.mu held.
func (ts *Trees) tree(p int) *Tree {
	t := ts.trees[p]
	if t == nil {
		if ts.trees == nil {
			ts.trees = make(map[int]*Tree)
		}
		t = new(Tree)
		ts.trees[p] = t
	}
	return t
}

// Update records a write of key in partition p: its leaf hash changed from
// oldLeaf to newLeaf (0 meaning absent). The replica calls it for every
// write, after the write is durable and while it still holds the key's lock.
func (ts *Trees) Update(p int, key []byte, oldLeaf, newLeaf uint64) {
	if oldLeaf == newLeaf {
		return
	}
	s, delta := Segment(key), oldLeaf^newLeaf
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.tree(p).updateSegment(s, delta)
	if rb := ts.rebuilds[p]; rb != nil {
		rb.log = append(rb.log, segDelta{seg: s, delta: delta})
	}
}

// Root returns p's root hash.
func (ts *Trees) Root(p int) uint64 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.trees[p]; t != nil {
		return t.Root()
	}
	return 0
}

// Branches returns p's branch hashes.
func (ts *Trees) Branches(p int) [Branches]uint64 {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.trees[p]; t != nil {
		return t.BranchHashes()
	}
	return [Branches]uint64{}
}

// Segments returns the segment hashes of the given branches of p:
// result[i] belongs to branches[i]. It fails for a branch out of range
// (the request may come from a peer).
func (ts *Trees) Segments(p int, branches []int) ([][SegmentsPerBranch]uint64, error) {
	if err := checkBranches(branches); err != nil {
		return nil, err
	}
	out := make([][SegmentsPerBranch]uint64, len(branches))
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.trees[p]; t != nil {
		for i, b := range branches {
			out[i] = t.SegmentHashes(b)
		}
	}
	return out, nil
}

func checkBranches(branches []int) error {
	for _, b := range branches {
		if b < 0 || b >= Branches {
			return fmt.Errorf("antientropy: branch %d out of range [0, %d)", b, Branches)
		}
	}
	return nil
}

// Snapshot returns a copy of p's tree (for persisting it at a clean stop).
func (ts *Trees) Snapshot(p int) *Tree {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if t := ts.trees[p]; t != nil {
		return t.Clone()
	}
	return new(Tree)
}

// Load installs t (copied) as p's tree, e.g. one persisted at a clean stop,
// and aborts a rebuild of p in progress. Only correct when no write of p
// happened since t was taken.
func (ts *Trees) Load(p int, t *Tree) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.abortLocked(p)
	*ts.tree(p) = *t
}

// Reset drops p's tree (the node no longer holds p, or is about to rebuild
// it from nothing) and aborts a rebuild of p in progress.
func (ts *Trees) Reset(p int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.abortLocked(p)
	delete(ts.trees, p)
}

// Partitions returns the partitions that have a tree, ascending.
func (ts *Trees) Partitions() []int {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ps := make([]int, 0, len(ts.trees))
	for p := range ts.trees {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Rebuild replaces p's tree with one built from a scan of the stored data:
// scan must call add once for every key of p with its leaf hash. See
// [Trees.BeginRebuild] for what the scan must see when writes run
// concurrently; at start-up, before the node serves writes, any scan is
// exact.
func (ts *Trees) Rebuild(p int, scan func(add func(key []byte, leaf uint64)) error) error {
	rb := ts.BeginRebuild(p)
	if err := scan(rb.Add); err != nil {
		rb.Abort()
		return err
	}
	return rb.Commit()
}

// BeginRebuild starts rebuilding p's tree while writes continue. Until
// Commit, p's current tree keeps serving and keeps being updated, and every
// Update of p is also logged; Commit replays the log onto the new tree and
// swaps it in. A newer BeginRebuild, Reset or Load of p aborts this one.
//
// The result is exact if the keys passed to Add are a snapshot that holds
// exactly the writes whose Update ran before BeginRebuild returned. The
// replica gets that by making "write, then Update" and "take a storage
// snapshot, then BeginRebuild" mutually exclusive (e.g. a per-partition
// RWMutex: read-locked by writers, write-locked for the two calls), then
// scanning the snapshot with the lock released.
func (ts *Trees) BeginRebuild(p int) *Rebuild {
	rb := &Rebuild{ts: ts, p: p}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.abortLocked(p)
	if ts.rebuilds == nil {
		ts.rebuilds = make(map[int]*Rebuild)
	}
	ts.rebuilds[p] = rb
	return rb
}

func (ts *Trees) abortLocked(p int) {
	if rb := ts.rebuilds[p]; rb != nil {
		rb.aborted = true
		rb.log = nil
		delete(ts.rebuilds, p)
	}
}

// Rebuild is an in-progress rebuild of one partition's tree
// ([Trees.BeginRebuild]). Add is called from one goroutine (the scan);
// Commit or Abort ends it.
type Rebuild struct {
	ts   *Trees
	p    int
	tree Tree // owned by the scanning goroutine until Commit

	// guarded by ts.mu
	log     []segDelta
	aborted bool
}

type segDelta struct {
	seg   int
	delta uint64
}

// Add adds one scanned key with its leaf hash to the new tree.
func (rb *Rebuild) Add(key []byte, leaf uint64) { rb.tree.Update(key, 0, leaf) }

// Commit replays the Updates logged since BeginRebuild onto the new tree
// and installs it. It returns ErrRebuildAborted, installing nothing, if
// the rebuild was aborted or superseded.
func (rb *Rebuild) Commit() error {
	ts := rb.ts
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if rb.aborted {
		return ErrRebuildAborted
	}
	for _, d := range rb.log {
		rb.tree.updateSegment(d.seg, d.delta)
	}
	*ts.tree(rb.p) = rb.tree
	delete(ts.rebuilds, rb.p)
	rb.aborted, rb.log = true, nil // a second Commit installs nothing
	return nil
}

// Abort abandons the rebuild; p keeps its current tree.
func (rb *Rebuild) Abort() {
	rb.ts.mu.Lock()
	defer rb.ts.mu.Unlock()
	if !rb.aborted {
		rb.ts.abortLocked(rb.p)
	}
}
