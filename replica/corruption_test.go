package replica

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOpenFailsOnDamagedTable: random bytes in the middle of a table make
// Open fail fast with ErrCorrupt naming the file and the recovery, without
// a panic.
func TestOpenFailsOnDamagedTable(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{NodeID: "n1", Dir: dir, Partition: part4, Logger: discardLogger(), NoSync: true}
	s := mustOpen(t, cfg)
	val := make([]byte, 1024)
	for i := range 8 << 10 { // 8 MiB: more than a memtable
		if _, err := s.Coordinate(fmt.Appendf(nil, "key-%05d", i), nil, sib(string(val))); err != nil {
			t.Fatal(err)
		}
	}
	closeStore(t, s)
	victim, size := "", int64(0)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if fi, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".sst") && fi.Size() > size {
			victim, size = filepath.Join(dir, e.Name()), fi.Size()
		}
	}
	if victim == "" {
		t.Fatal("no table written")
	}
	junk := make([]byte, 4096)
	_, _ = rand.Read(junk)
	f, err := os.OpenFile(victim, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(junk, size/2); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s2, err := Open(cfg)
	if err == nil {
		_ = s2.Close()
		t.Fatal("Open of a damaged store succeeded")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Open took %v to fail", took)
	}
	var ce *CorruptionError
	if !errors.Is(err, ErrCorrupt) || !errors.As(err, &ce) {
		t.Fatalf("Open = %v, want a CorruptionError", err)
	}
	if ce.File != victim || ce.Dir != dir {
		t.Fatalf("CorruptionError names %q in %q, want %q in %q", ce.File, ce.Dir, victim, dir)
	}
}
