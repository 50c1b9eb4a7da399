package antientropy

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/vclock"
)

const mib = 1 << 20

// bigClock encodes a clock of one 1 MiB sibling per actor (concurrent
// writes: every sibling stays).
func bigClock(actors ...string) []byte {
	var c vclock.Clock
	for _, a := range actors {
		v := bytes.Repeat([]byte(a), mib/len(a))
		c = vclock.Sync(c, vclock.Clock{Entries: []vclock.Entry{{Actor: vclock.Actor(a), N: 1, Values: []vclock.Sibling{{Value: v}}}}})
	}
	return c.Marshal()
}

func actors(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// TestExchangeLargeSiblingsByBytes: keys of many 1 MiB siblings move through
// one exchange although all of them together exceed the peer's message
// limit (scaled down here: 4 keys of 12 MiB against 32 MiB, as 3 keys at the
// sibling cap of 100 exceed gRPC's 256 MiB in a batch of up to 100 keys).
// Push and Apply calls are bounded by Config.RepairBytes, Fetch answers by
// the replicas (the local one may answer every key: it crosses no wire): no
// call of more than one object carries more than the bound, a larger key
// goes alone, and small differing keys still share calls.
func TestExchangeLargeSiblingsByBytes(t *testing.T) {
	const keys, siblings, limit = 4, 12, 32 * mib
	bigKey := func(i int) []byte { return fmt.Appendf(nil, "big-%d", i) }
	onLocal := func(a, _ *fake) {
		for i := range keys {
			a.set(bigKey(i), bigClock(actors("a", siblings)...))
		}
	}
	cases := []struct {
		name       string
		setup      func(a, b *fake)
		localFetch int // the local Fetch's bound (0: none)
	}{
		{"local holds them, local fetch unbounded", onLocal, 0},
		{"local holds them", onLocal, DefaultRepairBytes},
		{"peer holds them", func(_, b *fake) {
			for i := range keys {
				b.set(bigKey(i), bigClock(actors("b", siblings)...))
			}
		}, DefaultRepairBytes},
		{"concurrent siblings on both", func(a, b *fake) {
			for i := range keys {
				a.set(bigKey(i), bigClock(actors("a", siblings/2)...))
				b.set(bigKey(i), bigClock(actors("b", siblings/2)...))
			}
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := pair(2000)
			diverge(a, b, 2000, 40) // small differing keys too
			c.setup(a, b)
			a.fetchBytes = c.localFetch
			b.fetchBytes, b.maxMessage = DefaultRepairBytes, limit
			want := merged(a, b)
			d := countDiff(a, b)
			res := runExchange(t, Config{}, a, b)
			if res.KeysRepaired != d || res.Truncated {
				t.Fatalf("result %+v, want %d keys repaired", res, d)
			}
			assertConverged(t, a, b, want)
			if a.calls.MaxMergeBytes > DefaultRepairBytes || b.calls.MaxMergeBytes > DefaultRepairBytes || b.calls.MaxFetchBytes > DefaultRepairBytes {
				t.Errorf("a call of several objects carried more than %d bytes: local apply %d, peer push %d, peer fetch %d",
					DefaultRepairBytes, a.calls.MaxMergeBytes, b.calls.MaxMergeBytes, b.calls.MaxFetchBytes)
			}
			if big := max(a.calls.MaxObjectBytes, b.calls.MaxObjectBytes); big < siblings/2*mib {
				t.Errorf("largest object moved %d bytes: the large keys did not move", big)
			}
			if n := a.calls.Merge + b.calls.Merge; n >= d {
				t.Errorf("%d Push/Apply calls for %d keys: small keys do not share calls", n, d)
			}
			assertOneRootCall(t, Config{}, a, b)
		})
	}
}

// TestExchangeFetchPrefixes: however short the Fetch answers (down to one
// key per call, on either side), the exchange repairs every differing key,
// and RepairBytes bounds Push and Apply calls.
func TestExchangeFetchPrefixes(t *testing.T) {
	cases := []struct {
		name                   string
		localBytes, peerBytes  int
		repairBytes, wantMerge int // wantMerge: least Push+Apply calls
	}{
		{"one key per local fetch", 1, 0, 0, 0},
		{"one key per peer fetch", 0, 1, 0, 0},
		{"one key per fetch", 1, 1, 0, 0},
		{"a few keys per fetch", 200, 90, 0, 0},
		{"one object per push and apply", 0, 0, 1, 75},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, b := pair(3000)
			diverge(a, b, 3000, 100)
			a.fetchBytes, b.fetchBytes = c.localBytes, c.peerBytes
			want := merged(a, b)
			cfg := Config{RepairBytes: c.repairBytes}
			res := runExchange(t, cfg, a, b)
			if res.KeysRepaired != 100 || res.Truncated {
				t.Fatalf("result %+v, want 100 keys repaired", res)
			}
			assertConverged(t, a, b, want)
			if c.localBytes == 1 && a.calls.Fetch < 100 || c.peerBytes == 1 && b.calls.Fetch < 100 {
				t.Fatalf("fetch calls local %d, peer %d: answers were not one key each", a.calls.Fetch, b.calls.Fetch)
			}
			if n := a.calls.Merge + b.calls.Merge; n < c.wantMerge {
				t.Fatalf("%d Push/Apply calls, want at least %d", n, c.wantMerge)
			}
			if c.repairBytes == 1 && (a.calls.MaxMergeBytes != 0 || b.calls.MaxMergeBytes != 0) {
				t.Fatalf("a Push or Apply of several objects with RepairBytes 1: %+v %+v", a.calls, b.calls)
			}
		})
	}
}

func TestFetchBounded(t *testing.T) {
	states := map[string][]byte{"a": make([]byte, 9), "b": make([]byte, 9), "c": make([]byte, 99), "d": nil}
	keys := [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}
	cases := []struct {
		max   int
		from  int
		want  []string // keys answered
		reads int      // states read
	}{
		{0, 0, []string{"a", "b", "c", "d"}, 4},
		{-1, 0, []string{"a", "b", "c", "d"}, 4},
		{10, 0, []string{"a"}, 1},      // full after a (10 bytes): b is not read
		{15, 0, []string{"a"}, 2},      // b would pass the bound
		{20, 0, []string{"a", "b"}, 2}, // exactly full
		{25, 0, []string{"a", "b"}, 3}, // c is read and does not fit
		{1, 0, []string{"a"}, 1},       // full after a: b is not even read
		{10, 2, []string{"c"}, 1},      // larger than the bound: alone (and full)
		{1000, 3, []string{"d"}, 1},
		{1000, 4, nil, 0},
	}
	for _, c := range cases {
		reads := 0
		got, err := FetchBounded(keys[c.from:], c.max, func(k []byte) ([]byte, error) {
			reads++
			return states[string(k)], nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for i, o := range got {
			names = append(names, string(o.Key))
			if !bytes.Equal(o.Clock, states[string(o.Key)]) || !bytes.Equal(o.Key, keys[c.from+i]) {
				t.Fatalf("max %d: object %d is %q", c.max, i, o.Key)
			}
		}
		if !slices.Equal(names, c.want) || reads != c.reads {
			t.Errorf("max %d from %d: answered %v after %d reads, want %v after %d", c.max, c.from, names, reads, c.want, c.reads)
		}
	}
	boom := errors.New("boom")
	if _, err := FetchBounded(keys, 0, func([]byte) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("error %v, want the read's", err)
	}
}

func TestSplitBytes(t *testing.T) {
	obj := func(n int) Object { return Object{Key: []byte("k"), Clock: make([]byte, n-1)} } // ObjectSize n
	sizes := func(bs [][]Object) [][]int {
		var out [][]int
		for _, b := range bs {
			var s []int
			for _, o := range b {
				s = append(s, ObjectSize(o))
			}
			out = append(out, s)
		}
		return out
	}
	cases := []struct {
		objs []int
		max  int
		want [][]int
	}{
		{nil, 10, nil},
		{[]int{3, 3, 3}, 0, [][]int{{3, 3, 3}}},
		{[]int{3, 3, 3}, 10, [][]int{{3, 3, 3}}},
		{[]int{3, 3, 3}, 6, [][]int{{3, 3}, {3}}},
		{[]int{3, 3, 3}, 5, [][]int{{3}, {3}, {3}}},
		{[]int{2, 50, 2, 2}, 10, [][]int{{2}, {50}, {2, 2}}}, // too large: alone
		{[]int{50, 50}, 10, [][]int{{50}, {50}}},
		{[]int{4, 6, 1}, 10, [][]int{{4, 6}, {1}}},
	}
	for _, c := range cases {
		var objs []Object
		for _, n := range c.objs {
			objs = append(objs, obj(n))
		}
		got := sizes(splitBytes(objs, c.max))
		if !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("splitBytes(%v, %d) = %v, want %v", c.objs, c.max, got, c.want)
		}
	}
}
