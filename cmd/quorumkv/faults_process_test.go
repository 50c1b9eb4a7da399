package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The product binary has no fault-injection flags: a server asked to break
// itself on purpose, or to skew its clock, refuses to start as called wrongly.
func TestServerRejectsFaultFlags(t *testing.T) {
	needBinary(t)
	for _, flag := range []string{"--test-bug=skip-apply", "--clock-offset=1s"} {
		t.Run(flag, func(t *testing.T) {
			cmd := exec.Command(binary, "server", "--id", "n1", "--data", t.TempDir(), flag)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitUsage {
				t.Fatalf("server %s: err %v, want exit %d\n%s", flag, err, exitUsage, out)
			}
			name := strings.SplitN(flag, "=", 2)[0]
			if !strings.Contains(string(out), "unknown flag: "+name) {
				t.Fatalf("server %s: output does not name the unknown flag:\n%s", flag, out)
			}
		})
	}
}

// TestProductLeavesFaultInjectionOut: the default build of the binary does
// not link the fault-injection package at all.
func TestProductLeavesFaultInjectionOut(t *testing.T) {
	needBinary(t)
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasSuffix(pkg, "/internal/faultinject") {
			t.Fatalf("the product binary links %s", pkg)
		}
	}
}
