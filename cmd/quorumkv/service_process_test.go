package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ids is the instance ids of a service list or watch line.
func ids(line string) ([]string, error) {
	var out serviceOutput
	if err := json.Unmarshal([]byte(line), &out); err != nil {
		return nil, err
	}
	var ids []string
	for _, in := range out.Instances {
		ids = append(ids, in.ID)
	}
	return ids, nil
}

// An instance whose registrant is SIGKILLed leaves service list and
// service watch within ttl + grace (ttl 2 s: at most 5 s); one whose
// registrant gets SIGTERM deregisters at once.
func TestProcessServiceRegistrantDies(t *testing.T) {
	pc := startProcCluster(t, 3)
	eps := pc.endpoints()
	register := func(id, port string) *exec.Cmd {
		cmd := exec.Command(binary, "service", "register", "payments", "--id", id, "--addr", "127.0.0.1:"+port,
			"--meta", "zone=a", "--ttl", "2s", "--endpoints", eps)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd
	}
	r1, r2 := register("i-1", "9001"), register("i-2", "9002")

	watch := exec.Command(binary, "service", "watch", "payments", "-o", "json", "--endpoints", eps)
	stdout, err := watch.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = watch.Process.Kill(); _ = watch.Wait() })
	var mu sync.Mutex
	var sets [][]string
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if got, err := ids(sc.Text()); err == nil {
				mu.Lock()
				sets = append(sets, got)
				mu.Unlock()
			}
		}
	}()
	lastSet := func() []string {
		mu.Lock()
		defer mu.Unlock()
		if len(sets) == 0 {
			return nil
		}
		return sets[len(sets)-1]
	}
	listed := func() []string {
		out, code := pc.cli("service", "list", "payments", "-o", "json", "--endpoints", eps)
		if code != 0 {
			t.Fatalf("service list exited %d: %s", code, out)
		}
		got, err := ids(out)
		if err != nil {
			t.Fatalf("service list printed %s: %v", out, err)
		}
		return got
	}
	waitFor(t, 15*time.Second, func() error {
		if l, w := listed(), lastSet(); !slices.Equal(l, []string{"i-1", "i-2"}) || !slices.Equal(w, l) {
			return fmt.Errorf("list %v, watch %v", l, w)
		}
		return nil
	})

	_ = r1.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	waitFor(t, 10*time.Second, func() error {
		if l, w := listed(), lastSet(); !slices.Equal(l, []string{"i-2"}) || !slices.Equal(w, l) {
			return fmt.Errorf("list %v, watch %v", l, w)
		}
		return nil
	})
	gone := time.Since(killed)
	t.Logf("i-1 left the list and the watch %v after its registrant was killed (ttl 2s)", gone.Round(10*time.Millisecond))
	if gone > 5*time.Second {
		t.Errorf("i-1 left %v after its registrant died, want <= 5s", gone)
	}

	_ = r2.Process.Signal(syscall.SIGTERM)
	if err := r2.Wait(); err != nil {
		t.Fatalf("the registrant exited with %v on SIGTERM", err)
	}
	if l := listed(); len(l) != 0 {
		t.Fatalf("after SIGTERM the list is %v", l)
	}
	waitFor(t, 5*time.Second, func() error {
		if w := lastSet(); len(w) != 0 {
			return fmt.Errorf("watch %v", w)
		}
		return nil
	})
	if out, code := pc.cli("service", "list", "pay{ments}", "--endpoints", eps); code != exitUsage || !strings.Contains(out, "brace") {
		t.Fatalf("a braced service name: exit %d: %s", code, out)
	}
}
