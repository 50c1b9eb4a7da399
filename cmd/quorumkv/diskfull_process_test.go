package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory, unmounted
// when the test ends; the test is skipped when that is not possible (not
// root, no mount).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	// Registered after newProcCluster's kill, so it runs first: the
	// servers must be gone before the unmount.
	return dir
}

func unmount(t *testing.T, dir string) {
	if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
		t.Errorf("umount %s: %v %s", dir, err, out)
	}
}

// freeBytes is the free space of the file system holding dir.
func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}

// fill writes a file in dir that leaves about leave bytes free.
func fill(t *testing.T, dir string, leave int64) string {
	t.Helper()
	name := filepath.Join(dir, "filler")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n := freeBytes(t, dir) - leave; n > 0; n -= int64(len(buf)) {
		if _, err := f.Write(buf[:min(int64(len(buf)), n)]); err != nil {
			t.Fatalf("filler: %v", err)
		}
	}
	return name
}

// writeHealth is a node's HealthLocalWrites status.
func writeHealth(addr string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{Service: node.HealthLocalWrites})
	return r.GetStatus(), err
}

// unaryPut is one KV.Put to addr at level and how long it took.
func unaryPut(addr, key string, level api.Level) (time.Duration, error) {
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	start := time.Now()
	_, err = api.NewKVClient(cc).Put(ctx, &api.PutRequest{Key: []byte(key), Value: []byte("v"), Consistency: &api.Consistency{Level: level}})
	return time.Since(start), err
}

// TestProcessDiskFull: n1's data directory is on a 64 MiB tmpfs, filled
// by another file until less than n1's reserve is free. Then
//   - n1 says so: its HealthLocalWrites service is NOT_SERVING, `ring
//     status` marks it disk full and the verdict says writes are degraded;
//   - a write that needs n1 (ALL on 3 nodes, every key on every node)
//     fails within 1 s with RESOURCE_EXHAUSTED and a message saying the
//     disk is full, sent to n1 or to another node; a QUORUM put sent to n1
//     itself succeeds within 1 s (n1 hands it to another replica);
//   - >= 99 % of QUORUM puts through the Go client succeed;
//   - n1 logs the full disk once, not per write;
//   - once the filler is deleted, n1 reports SERVING again and an ALL put
//     through it succeeds, without a restart.
func TestProcessDiskFull(t *testing.T) {
	needBinary(t)
	mnt := mountTmpfs(t, 64<<20)
	t.Cleanup(func() { unmount(t, mnt) })
	pc := newProcCluster(t, 3) // its cleanup (kill) runs before the unmount
	pc.procs[0].data = filepath.Join(mnt, "n1")
	const reserve = 16 << 20
	for i := range 3 {
		pc.start(i, "--min-free-space", fmt.Sprint(reserve), "--log-level", "info")
	}
	pc.waitRing(3)
	n1, n2 := pc.procs[0], pc.procs[1]
	c, err := client.New(strings.Split(pc.endpoints(), ","), client.WithAttemptTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for i := range 20 {
		if _, err := c.Put(ctx, fmt.Appendf(nil, "warm-%d", i), []byte("v")); err != nil {
			t.Fatalf("put before the disk filled: %v", err)
		}
	}

	filler := fill(t, mnt, 4<<20)
	filledAt := time.Now()
	logBefore := strings.Count(n1.log.String(), "\n")
	waitFor(t, 10*time.Second, func() error {
		st, err := writeHealth(n1.listen)
		if err != nil || st != healthpb.HealthCheckResponse_NOT_SERVING {
			return fmt.Errorf("n1 write health %v, %v", st, err)
		}
		return nil
	})
	t.Logf("n1 reported its disk full %v after the filler was written", time.Since(filledAt).Round(time.Millisecond))
	if st, err := writeHealth(n2.listen); err != nil || st != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("n2 write health %v, %v", st, err)
	}
	out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", n2.listen)
	var rs statusOutput
	if code != 0 || json.Unmarshal([]byte(out), &rs) != nil {
		t.Fatalf("ring status exited %d: %s", code, out)
	}
	for _, m := range rs.Members {
		if m.DiskFull != (m.ID == "n1") || m.Status != "up" {
			t.Fatalf("ring status member %+v", m)
		}
	}
	if !strings.Contains(rs.Verdict, "disk full on n1") {
		t.Fatalf("verdict %q does not name n1's full disk", rs.Verdict)
	}

	for _, via := range []*proc{n1, n2} {
		d, err := unaryPut(via.listen, "needs-n1-via-"+via.id, api.Level_LEVEL_ALL)
		st, _ := status.FromError(err)
		if st.Code() != codes.ResourceExhausted || !strings.Contains(st.Message(), "disk full") || d > time.Second {
			t.Fatalf("ALL put via %s while n1's disk is full: %v after %v; want RESOURCE_EXHAUSTED saying the disk is full within 1s", via.id, err, d)
		}
		t.Logf("ALL put via %s failed after %v: %v", via.id, d.Round(time.Microsecond), st.Message())
	}
	if d, err := unaryPut(n1.listen, "quorum-via-n1", api.Level_LEVEL_QUORUM); err != nil || d > time.Second {
		t.Fatalf("QUORUM put sent to n1: %v after %v; want success within 1s", err, d)
	}

	const puts = 300
	ok, start := 0, time.Now()
	var failures []string
	for i := range puts {
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.Put(pctx, fmt.Appendf(nil, "full-%d", i), []byte("v"))
		pcancel()
		if err == nil {
			ok++
		} else if len(failures) < 5 {
			failures = append(failures, err.Error())
		}
	}
	ratio := float64(ok) / puts
	t.Logf("QUORUM puts through the Go client while n1's disk is full: %d of %d succeeded (%.1f%%) in %v", ok, puts, 100*ratio, time.Since(start).Round(time.Millisecond))
	if ratio < 0.99 {
		t.Fatalf("%d of %d QUORUM puts succeeded; first failures: %q", ok, puts, failures)
	}
	lines := strings.Count(n1.log.String(), "\n") - logBefore
	t.Logf("n1 logged %d lines while its disk was full", lines)
	if lines > 20 {
		t.Fatalf("n1 logged %d lines while its disk was full:\n%s", lines, n1.log.String())
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freedAt := time.Now()
	waitFor(t, 10*time.Second, func() error {
		st, err := writeHealth(n1.listen)
		if err != nil || st != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("n1 write health %v, %v", st, err)
		}
		return nil
	})
	t.Logf("n1 reported SERVING %v after the filler was deleted", time.Since(freedAt).Round(time.Millisecond))
	if d, err := unaryPut(n1.listen, "after-freeing", api.Level_LEVEL_ALL); err != nil {
		t.Fatalf("ALL put via n1 after space was freed: %v after %v", err, d)
	}
	out, code = pc.cli("ring", "status", "--endpoints", n1.listen)
	if code != 0 || strings.Contains(out, "disk full") || !strings.Contains(out, "— healthy") {
		t.Fatalf("ring status after freeing exited %d:\n%s", code, out)
	}
}
