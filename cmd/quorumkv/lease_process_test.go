package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A key written with a lease lives while `lease keepalive` runs, through
// the death of a store node, and is gone (get exits 4) within ttl + grace
// of the keep-alive process being SIGKILLed: ttl 2 s, at most 5 s.
func TestProcessLeasedKeyExpires(t *testing.T) {
	pc := startProcCluster(t, 3)
	eps := pc.endpoints()
	out, code := pc.cli("lease", "grant", "--ttl", "2s", "-o", "json", "--endpoints", eps)
	if code != 0 {
		t.Fatalf("lease grant exited %d: %s", code, out)
	}
	var granted struct {
		Lease string `json:"lease"`
		TTLms int64  `json:"ttl_ms"`
	}
	if err := json.Unmarshal([]byte(out), &granted); err != nil || len(granted.Lease) != 16 || granted.TTLms != 2000 {
		t.Fatalf("lease grant printed %s (%v)", out, err)
	}
	key := "svc/{payments}/i-1"
	if out, code := pc.cli("put", key, "10.0.0.1:8080", "--lease", granted.Lease, "--endpoints", eps); code != 0 {
		t.Fatalf("put --lease exited %d: %s", code, out)
	}
	ka := exec.Command(binary, "lease", "keepalive", granted.Lease, "-o", "json", "--endpoints", eps)
	var kaOut strings.Builder
	ka.Stdout, ka.Stderr = &kaOut, &kaOut
	if err := ka.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ka.Process.Kill(); _ = ka.Wait() })

	pc.kill(2) // a store node dies; the keep-alives go on through the others
	alive := time.Now()
	for time.Since(alive) < 5*time.Second {
		if out, code := pc.cli("get", key, "--endpoints", eps); code != 0 {
			t.Fatalf("a kept-alive key: get exited %d after %v: %s\nkeepalive: %s", code, time.Since(alive), out, kaOut.String())
		}
		time.Sleep(500 * time.Millisecond) // the cadence of the checks
	}
	out, code = pc.cli("lease", "show", granted.Lease, "-o", "json", "--endpoints", eps)
	if code != 0 || !strings.Contains(out, `"keys":["svc/{payments}/i-1"]`) {
		t.Fatalf("lease show exited %d: %s", code, out)
	}

	_ = ka.Process.Signal(syscall.SIGKILL)
	_ = ka.Wait()
	killed := time.Now()
	waitFor(t, 10*time.Second, func() error {
		if out, code := pc.cli("get", key, "--endpoints", eps); code != exitNotFound {
			return fmt.Errorf("get exited %d: %s", code, out)
		}
		return nil
	})
	if gone := time.Since(killed); gone > 5*time.Second {
		t.Errorf("the key was gone %v after the keep-alive died (ttl 2s; want <= 5s)", gone)
	} else {
		t.Logf("the key was gone %v after the keep-alive died (ttl 2s)", gone.Round(10*time.Millisecond))
	}
	if out, code := pc.cli("lease", "keepalive", granted.Lease, "--once", "--endpoints", eps); code != exitNotFound {
		t.Fatalf("keepalive of an expired lease exited %d, want %d: %s", code, exitNotFound, out)
	}
	if out, code := pc.cli("lease", "revoke", "zz", "--endpoints", eps); code != exitUsage {
		t.Fatalf("revoke of a malformed id exited %d, want %d: %s", code, exitUsage, out)
	}
	if out, code := pc.cli("lease", "grant", "--ttl", "1ms", "--endpoints", eps); code != exitUsage {
		t.Fatalf("grant of a 1ms ttl exited %d, want %d: %s", code, exitUsage, out)
	}
}
