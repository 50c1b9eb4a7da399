package replica

import (
	"bytes"
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/antientropy"
)

// TestFetchUpTo: Fetch answers the first keys whose states fit the byte
// bound (at least one, however large), absent keys with a nil Clock, and
// refuses a key of another partition.
func TestFetchUpTo(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	// Keys starting with 'a' (97) are in partition 1 of part4.
	big := string(bytes.Repeat([]byte("x"), 5000))
	states := map[string][]byte{}
	for _, k := range []string{"a1", "a2", "a3"} {
		mustCoordinate(t, s, k, nil, sib(big))
		c, _ := mustGet(t, s, k)
		states[k] = c.Marshal()
	}
	keys := [][]byte{[]byte("a1"), []byte("a2"), []byte("a0"), []byte("a3")} // a0 is absent
	size := antientropy.ObjectSize(antientropy.Object{Key: []byte("a1"), Clock: states["a1"]})
	ae := s.AntiEntropy()
	ctx := context.Background()
	cases := []struct {
		max  int
		want int
	}{
		{0, 4}, {1, 1}, {size, 1}, {2*size - 1, 1}, {2 * size, 2}, {2*size + 2, 3}, {10 * size, 4},
	}
	for _, c := range cases {
		objs, err := ae.FetchUpTo(ctx, 1, keys, c.max)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != c.want {
			t.Fatalf("max %d: %d objects, want %d", c.max, len(objs), c.want)
		}
		for i, o := range objs {
			if !bytes.Equal(o.Key, keys[i]) || !bytes.Equal(o.Clock, states[string(keys[i])]) {
				t.Fatalf("max %d: object %d is %q with %d bytes", c.max, i, o.Key, len(o.Clock))
			}
		}
	}
	if objs, err := ae.Fetch(ctx, 1, keys); err != nil || len(objs) != 4 {
		t.Fatalf("Fetch (bound %d): %d objects, %v", antientropy.DefaultRepairBytes, len(objs), err)
	}
	if _, err := ae.FetchUpTo(ctx, 1, [][]byte{[]byte("b1")}, 0); err == nil {
		t.Fatal("a key of another partition was fetched")
	}
}
