package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// add starts one more server that joins through a DNS name (localhost), as
// a Kubernetes headless service would give it.
func (pc *procCluster) add(extra ...string) int {
	pc.t.Helper()
	i := pc.addProc()
	pc.start(i, extra...)
	return i
}

// addProc adds one more server to pc without starting it.
func (pc *procCluster) addProc() int {
	pc.t.Helper()
	ports := freePorts(pc.t, 3)
	i := len(pc.procs)
	seed := strings.Replace(pc.procs[0].gossip, "127.0.0.1", "localhost", 1)
	pc.procs = append(pc.procs, &proc{
		id:     fmt.Sprintf("n%d", i+1),
		listen: fmt.Sprintf("127.0.0.1:%d", ports[0]),
		gossip: fmt.Sprintf("127.0.0.1:%d", ports[1]),
		http:   fmt.Sprintf("127.0.0.1:%d", ports[2]),
		data:   filepath.Join(filepath.Dir(pc.procs[0].data), fmt.Sprintf("n%d", i+1)),
		join:   []string{seed},
	})
	return i
}

type ringJSON struct {
	Members []struct {
		ID, Status, State string
	}
	Transfers []json.RawMessage
}

// waitMembers waits until the node at index via reports exactly ids, all up
// and valid, and no transfers.
func (pc *procCluster) waitMembers(via int, ids ...string) {
	pc.t.Helper()
	waitFor(pc.t, 60*time.Second, func() error {
		out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", pc.procs[via].listen)
		if code != 0 {
			return fmt.Errorf("ring status exited %d: %s", code, out)
		}
		var st ringJSON
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return err
		}
		var got []string
		for _, m := range st.Members {
			if m.Status != "up" || m.State != "valid" {
				return fmt.Errorf("%s is %s/%s", m.ID, m.Status, m.State)
			}
			got = append(got, m.ID)
		}
		if !slices.Equal(got, ids) || len(st.Transfers) > 0 {
			return fmt.Errorf("members %v (want %v), %d transfers", got, ids, len(st.Transfers))
		}
		return nil
	})
}

// TestProcessJoinAndLeave: a fourth node joins, takes its partitions and
// alone (with one old node) serves every key; then n1 is decommissioned and
// n4 serves every key with n2 and n3 dead.
func TestProcessJoinAndLeave(t *testing.T) {
	pc := startProcCluster(t, 3)
	out, code := pc.cli("ring", "leave", "--node", "n3", "--endpoints", pc.endpoints())
	if code != exitError || !strings.Contains(out, "--force") {
		t.Fatalf("leave below N exited %d: %s", code, out)
	}
	cl := pc.client(0, 1, 2)
	ctx, cancel := contextWithTimeout(60 * time.Second)
	defer cancel()
	for i := range 300 {
		k := fmt.Sprintf("key-%d", i)
		if _, err := cl.Put(ctx, []byte(k), []byte("val-"+k), allLevel()); err != nil {
			t.Fatal(err)
		}
	}
	n4 := pc.add()
	pc.waitMembers(n4, "n1", "n2", "n3", "n4")
	pc.kill(0)
	pc.kill(1)
	if got := readAllAtOne(t, pc.client(n4), 300); got != 300 {
		t.Fatalf("after the join, n4 (with n3) serves %d/300 keys at ONE", got)
	}
	pc.start(0)
	pc.start(1)
	pc.waitMembers(n4, "n1", "n2", "n3", "n4")
	if out, code := pc.cli("ring", "leave", "--node", "n1", "--endpoints", pc.procs[n4].listen); code != 0 {
		t.Fatalf("leave n1 exited %d: %s", code, out)
	}
	pc.waitMembers(n4, "n2", "n3", "n4")
	pc.kill(0)
	pc.kill(1)
	pc.kill(2)
	if got := readAllAtOne(t, pc.client(n4), 300); got != 300 {
		t.Fatalf("after n1 left, n4 alone serves %d/300 keys at ONE", got)
	}
}
