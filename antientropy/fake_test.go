package antientropy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/vclock"
)

// entry is one stored key of a fake replica.
type entry struct {
	key  []byte
	enc  []byte // canonical vclock encoding
	leaf uint64
}

func newEntry(key, enc []byte) entry { return entry{key: key, enc: enc, leaf: LeafHash(key, enc)} }

// calls counts the calls a fake replica answered.
type calls struct {
	Root, Branches, Segments, Keys, Fetch, Merge int
	KeysListed                                   int // KeyHash entries returned by Keys
	ObjsFetched                                  int
	ObjsReceived                                 int // objects received by Push/Apply
	// MaxFetchBytes and MaxMergeBytes are the largest Fetch answer and
	// Push/Apply call of more than one object (by ObjectSize);
	// MaxObjectBytes is the largest object either carried.
	MaxFetchBytes, MaxMergeBytes, MaxObjectBytes int
}

func (c calls) total() int { return c.Root + c.Branches + c.Segments + c.Keys + c.Fetch + c.Merge }

// fake is an in-memory replica of one partition: per-segment key-sorted
// entries (the layout the replica uses) and its Trees, kept up to date on
// every write. Push/Apply merge with vclock.Sync. It implements Local and
// Peer. Not safe for concurrent use.
type fake struct {
	p     int
	segs  [Segments][]entry
	trees Trees
	calls calls
	fail  string // method name that fails
	// fetchBytes bounds Fetch answers (FetchBounded; 0: every key asked).
	fetchBytes int
	// maxMessage, if set, fails a Fetch answer or a Push/Apply call larger
	// than it (by ObjectSize), as gRPC refuses a message over its limit.
	maxMessage int
	// mangle, if set, rewrites answers (to test checks of peer answers).
	mangleSegments func([][SegmentsPerBranch]uint64) [][SegmentsPerBranch]uint64
	mangleKeys     func([]KeyHash) []KeyHash
	mangleFetch    func([]Object) []Object
}

var errInjected = errors.New("injected failure")

// newFake builds a fake holding entries (any order) as partition p.
func newFake(p int, entries []entry) *fake {
	f := &fake{p: p}
	for _, e := range entries {
		s := Segment(e.key)
		f.segs[s] = append(f.segs[s], e)
	}
	for s := range f.segs {
		slices.SortFunc(f.segs[s], func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	}
	f.rebuild()
	return f
}

// cloneFake copies segment slices (sharing key and value bytes) and the tree.
func cloneFake(src *fake) *fake {
	f := &fake{p: src.p}
	for s := range src.segs {
		f.segs[s] = slices.Clone(src.segs[s])
	}
	f.trees.Load(f.p, src.trees.Snapshot(src.p))
	return f
}

func (f *fake) rebuild() {
	err := f.trees.Rebuild(f.p, func(add func([]byte, uint64)) error {
		for _, seg := range f.segs {
			for _, e := range seg {
				add(e.key, e.leaf)
			}
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
}

func (f *fake) find(key []byte) (s, i int, ok bool) {
	s = Segment(key)
	i, ok = slices.BinarySearchFunc(f.segs[s], key, func(e entry, k []byte) int { return bytes.Compare(e.key, k) })
	return s, i, ok
}

func (f *fake) get(key []byte) []byte {
	if s, i, ok := f.find(key); ok {
		return f.segs[s][i].enc
	}
	return nil
}

// set stores enc (nil deletes) and updates the tree.
func (f *fake) set(key, enc []byte) {
	s, i, ok := f.find(key)
	var old uint64
	if ok {
		old = f.segs[s][i].leaf
	}
	switch {
	case enc == nil && ok:
		f.segs[s] = slices.Delete(f.segs[s], i, i+1)
	case enc == nil:
	case ok:
		f.segs[s][i] = newEntry(f.segs[s][i].key, enc)
	default:
		f.segs[s] = slices.Insert(f.segs[s], i, newEntry(bytes.Clone(key), enc))
	}
	f.trees.Update(f.p, key, old, LeafHash(key, enc))
}

// contents returns key → encoding.
func (f *fake) contents() map[string]string {
	m := make(map[string]string)
	for _, seg := range f.segs {
		for _, e := range seg {
			m[string(e.key)] = string(e.enc)
		}
	}
	return m
}

func (f *fake) check(p int, method string) error {
	if p != f.p {
		return fmt.Errorf("fake holds partition %d, asked %d", f.p, p)
	}
	if f.fail == method {
		return errInjected
	}
	return nil
}

func (f *fake) Root(_ context.Context, p int) (uint64, error) {
	f.calls.Root++
	if err := f.check(p, "Root"); err != nil {
		return 0, err
	}
	return f.trees.Root(p), nil
}

func (f *fake) Branches(_ context.Context, p int) ([Branches]uint64, error) {
	f.calls.Branches++
	if err := f.check(p, "Branches"); err != nil {
		return [Branches]uint64{}, err
	}
	return f.trees.Branches(p), nil
}

func (f *fake) Segments(_ context.Context, p int, branches []int) ([][SegmentsPerBranch]uint64, error) {
	f.calls.Segments++
	if err := f.check(p, "Segments"); err != nil {
		return nil, err
	}
	hs, err := f.trees.Segments(p, branches)
	if err == nil && f.mangleSegments != nil {
		hs = f.mangleSegments(hs)
	}
	return hs, err
}

func (f *fake) Keys(_ context.Context, p int, segments []int) ([]KeyHash, error) {
	f.calls.Keys++
	if err := f.check(p, "Keys"); err != nil {
		return nil, err
	}
	n := 0
	for _, s := range segments {
		n += len(f.segs[s])
	}
	out := make([]KeyHash, 0, n)
	for _, s := range segments {
		for _, e := range f.segs[s] {
			out = append(out, KeyHash{Key: e.key, Hash: e.leaf})
		}
	}
	f.calls.KeysListed += len(out)
	if f.mangleKeys != nil {
		out = f.mangleKeys(out)
	}
	return out, nil
}

func (f *fake) Fetch(_ context.Context, p int, keys [][]byte) ([]Object, error) {
	f.calls.Fetch++
	if err := f.check(p, "Fetch"); err != nil {
		return nil, err
	}
	out, err := FetchBounded(keys, f.fetchBytes, func(k []byte) ([]byte, error) { return f.get(k), nil })
	if err != nil {
		return nil, err
	}
	f.calls.ObjsFetched += len(out)
	if err := f.message("Fetch", out); err != nil {
		return nil, err
	}
	if f.mangleFetch != nil {
		out = f.mangleFetch(out)
	}
	return out, nil
}

// errTooLarge is the fake's "message larger than max".
var errTooLarge = errors.New("message larger than the limit")

// message records the size of a batch of objects crossing between the
// replicas and enforces maxMessage.
func (f *fake) message(method string, objs []Object) error {
	total := 0
	for _, o := range objs {
		total += ObjectSize(o)
		f.calls.MaxObjectBytes = max(f.calls.MaxObjectBytes, ObjectSize(o))
	}
	if len(objs) > 1 && method == "Fetch" {
		f.calls.MaxFetchBytes = max(f.calls.MaxFetchBytes, total)
	} else if len(objs) > 1 {
		f.calls.MaxMergeBytes = max(f.calls.MaxMergeBytes, total)
	}
	if f.maxMessage > 0 && total > f.maxMessage {
		return fmt.Errorf("%s: %d objects, %d bytes: %w", method, len(objs), total, errTooLarge)
	}
	return nil
}

func (f *fake) Push(ctx context.Context, p int, objs []Object) error {
	return f.merge(p, "Push", objs)
}

func (f *fake) Apply(ctx context.Context, p int, objs []Object) error {
	return f.merge(p, "Apply", objs)
}

// merge does local := Sync(local, incoming) per object, writing only changes.
func (f *fake) merge(p int, method string, objs []Object) error {
	f.calls.Merge++
	if err := f.check(p, method); err != nil {
		return err
	}
	f.calls.ObjsReceived += len(objs)
	if err := f.message(method, objs); err != nil {
		return err
	}
	for _, o := range objs {
		in, err := vclock.Unmarshal(o.Clock)
		if err != nil {
			return err
		}
		old := f.get(o.Key)
		local, err := vclock.Unmarshal(old)
		if old == nil {
			local, err = vclock.Clock{}, nil
		}
		if err != nil {
			return err
		}
		if enc := vclock.Sync(local, in).Marshal(); !bytes.Equal(enc, old) {
			f.set(o.Key, enc)
		}
	}
	return nil
}

// clk returns the encoding of a clock with one entry per (actor, n) pair,
// each holding its newest value "actor:n".
func clk(dots ...vclock.Dot) []byte {
	var c vclock.Clock
	for _, d := range dots {
		c = vclock.Sync(c, vclock.Clock{Entries: []vclock.Entry{{
			Actor: d.Actor, N: d.N,
			Values: []vclock.Sibling{{Value: fmt.Appendf(nil, "%s:%d", d.Actor, d.N)}},
		}}})
	}
	return c.Marshal()
}

func dot(a string, n uint64) vclock.Dot { return vclock.Dot{Actor: vclock.Actor(a), N: n} }

// syncEnc is the expected merge of two encodings (nil = absent).
func syncEnc(a, b []byte) []byte {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	ca, err1 := vclock.Unmarshal(a)
	cb, err2 := vclock.Unmarshal(b)
	if err := errors.Join(err1, err2); err != nil {
		panic(err)
	}
	return vclock.Sync(ca, cb).Marshal()
}
