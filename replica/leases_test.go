package replica

import (
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/vclock"
)

// The lease index lists exactly the lease keys held, by prefix, and goes
// with the partition.
func TestLeaseKeysAreIndexed(t *testing.T) {
	s := mustOpen(t, memConfig(vfs.NewMem()))
	id := lease.ID(7)
	keys := [][]byte{lease.RecordKey(id), lease.AttachKey(id, []byte("a")), lease.AttachKey(id, []byte("b")), []byte("plain")}
	for _, k := range keys {
		if _, err := s.Coordinate(k, nil, vclock.Sibling{Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	// A second write of a key does not index it twice.
	if _, err := s.Coordinate(keys[1], nil, vclock.Sibling{Value: []byte("w")}); err != nil {
		t.Fatal(err)
	}
	p := part4(keys[0])
	list := func(prefix []byte) (out []string) {
		t.Helper()
		if err := s.ScanLeaseKeys(p, prefix, func(k []byte, c vclock.Clock) error {
			out = append(out, string(k))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := list(nil); len(got) != 3 {
		t.Fatalf("all lease keys: %q", got)
	}
	if got := list(lease.AttachKey(id, nil)); len(got) != 2 {
		t.Fatalf("attachments: %q", got)
	}
	if err := s.DropPartition(p); err != nil {
		t.Fatal(err)
	}
	if got := list(nil); len(got) != 0 {
		t.Fatalf("after the drop: %q", got)
	}
}
