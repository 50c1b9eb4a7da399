//go:build linux

package replica

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/quorumkv/quorumkv/vclock"
)

// TestWALExtendedWithZerosRecovers: on a real file system the WAL's size
// runs ahead of its records (zeros past them), and a copy of
// the store taken while it is open (what a crash leaves) opens with every
// acknowledged write: Pebble reads the zeroed tail as the WAL's end.
func TestWALExtendedWithZerosRecovers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, Config{NodeID: "n1", Dir: dir, Partition: part4, Logger: discardLogger()})
	acked := map[string]vclock.Clock{}
	written := 0
	for i := range 50 {
		k := fmt.Sprintf("k%d", i)
		acked[k] = mustCoordinate(t, s, k, vclock.Clock{}.Context(), sib(val(i)))
		written += len(k) + len(val(i))
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no WAL in %s: %v", dir, err)
	}
	var largest int64
	for _, l := range logs {
		fi, err := os.Stat(l)
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, fi.Size())
	}
	if largest < walExtension {
		t.Fatalf("largest WAL is %d bytes after about %d bytes of writes: it was not extended ahead of its writes", largest, written)
	}

	crashed := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(crashed, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s2 := mustOpen(t, Config{NodeID: "n1", Dir: crashed, Partition: part4, Logger: discardLogger()})
	for k, want := range acked {
		got, found := mustGet(t, s2, k)
		if !found || !slices.Equal(live(got), live(want)) {
			t.Fatalf("%s after the crash copy: found=%v %v, want %v", k, found, live(got), live(want))
		}
	}
}
