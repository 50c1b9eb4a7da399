package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/quorumkv/quorumkv/client"
)

// stop stops server i with SIGTERM (a clean shutdown) and waits for it.
func (pc *procCluster) stop(i int) {
	pc.t.Helper()
	p := pc.procs[i]
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err := p.cmd.Wait()
	p.cmd = nil
	if err != nil {
		pc.t.Fatalf("%s after SIGTERM: %v\n%s", p.id, err, p.log)
	}
}

// filesWithSuffix lists the files of dir whose names end in suffix.
func filesWithSuffix(t *testing.T, dir, suffix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), suffix) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// putBulk writes n keys of size bytes each at QUORUM.
func putBulk(t *testing.T, cl *client.Client, prefix string, n, size int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	val := make([]byte, size)
	for i := range n {
		g.Go(func() error {
			_, err := cl.Put(gctx, fmt.Appendf(nil, "%s-%d", prefix, i), val, client.WithLevel(client.Quorum))
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}

// TestProcessCorruptSSTFailsStartClearly: 4 KiB of random bytes in the
// middle of an .sst of a stopped node; starting it ends within 10 s with a
// non-zero exit, no panic, and an error that names the file and the
// recovery.
func TestProcessCorruptSSTFailsStartClearly(t *testing.T) {
	pc := startProcCluster(t, 1, "--replicas", "1")
	p := pc.procs[0]
	// 8 MiB of values: more than a memtable, so Pebble writes tables.
	putBulk(t, pc.client(0), "bulk", 128, 64<<10)
	pc.stop(0)
	ssts := filesWithSuffix(t, p.data, ".sst")
	if len(ssts) == 0 {
		t.Fatalf("no .sst in %s after 8 MiB of writes", p.data)
	}
	victim, size := "", int64(0)
	for _, f := range ssts {
		if fi, err := os.Stat(f); err == nil && fi.Size() > size {
			victim, size = f, fi.Size()
		}
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
	pc.spawn(0)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("start-up with a damaged .sst still running after 10 s:\n%s", p.log)
	}
	took := time.Since(start)
	p.cmd = nil
	out := p.log.String()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("exit = %v, want a non-zero exit code:\n%s", werr, out)
	}
	if strings.Contains(out, "panic") {
		t.Fatalf("start-up panicked:\n%s", out)
	}
	if !strings.Contains(out, filepath.Base(victim)) || !strings.Contains(out, "wipe the data directory") {
		t.Fatalf("the error does not name %s and the recovery:\n%s", filepath.Base(victim), out)
	}
	t.Logf("start-up with a damaged %s failed after %v (exit %d)", filepath.Base(victim), took.Round(time.Millisecond), ee.ExitCode())
}
