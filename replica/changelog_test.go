package replica

import (
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/quorumkv/quorumkv/vclock"
)

// Every change is logged in its partition's order; a read of the log
// returns the keys with their current state; trimming raises the floor and
// a read behind it fails; a drop keeps the sequence.
func TestChangeLog(t *testing.T) {
	fs := vfs.NewMem()
	s := mustOpen(t, memConfig(fs))
	put := func(k, v string) {
		t.Helper()
		if _, err := s.Coordinate([]byte(k), nil, vclock.Sibling{Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	// part4: partition = first byte mod 4; 'a' = 97 → 1, 'e' = 101 → 1.
	grew := s.LogGrew(1, 0)
	put("a1", "x")
	select {
	case <-grew:
	case <-time.After(5 * time.Second):
		t.Fatal("LogGrew did not fire")
	}
	put("e1", "y")
	put("a1", "z")
	if err := s.ApplyMany([]Item{{Key: []byte("a2"), Clock: vclock.Clock{Entries: []vclock.Entry{{Actor: "n9", N: 1, Values: []vclock.Sibling{{Value: []byte("w")}}}}}}}); err[0] != nil {
		t.Fatal(err[0])
	}
	r, err := s.ReadLog(1, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i, e := range r.Entries {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		keys = append(keys, string(e.Key))
	}
	if want := "a1 e1 a1 a2"; join(keys) != want || r.Floor != 1 || r.Last != 4 {
		t.Fatalf("log %q floor %d last %d, want %q", join(keys), r.Floor, r.Last, want)
	}
	if v := r.Entries[0].Clock.Live(); len(v) != 2 { // two blind puts: siblings x and z
		t.Fatalf("an entry carries the key's current state: %q", v)
	}
	if r, _ := s.ReadLog(1, 2, 1); len(r.Entries) != 1 || r.Entries[0].Seq != 3 {
		t.Fatalf("read after 2, limit 1: %+v", r.Entries)
	}
	if err := s.TrimLog(1, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadLog(1, 1, 10); !errors.Is(err, ErrLogCompacted) {
		t.Fatalf("read behind the floor: %v", err)
	}
	if r, err := s.ReadLog(1, 2, 10); err != nil || r.Floor != 3 || len(r.Entries) != 2 {
		t.Fatalf("read at the floor: %+v %v", r, err)
	}
	if err := s.DropPartition(1); err != nil {
		t.Fatal(err)
	}
	put("a3", "q")
	if r, err := s.ReadLog(1, 4, 10); err != nil || len(r.Entries) != 1 || r.Entries[0].Seq != 5 {
		t.Fatalf("after a drop the sequence goes on: %+v %v", r, err)
	}
}

func join(ss []string) string {
	out := ""
	for i, s := range ss {
		if i > 0 {
			out += " "
		}
		out += s
	}
	return out
}
