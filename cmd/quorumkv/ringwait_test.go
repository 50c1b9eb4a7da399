package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
)

func member(id, state string, up bool) *api.MemberStatus {
	return &api.MemberStatus{Id: id, Address: id + ":7101", State: state, Up: up}
}

func TestRingWaitReasons(t *testing.T) {
	answered := func(epochs ...uint64) []memberView {
		var out []memberView
		for _, e := range epochs {
			out = append(out, memberView{answered: true, epoch: e})
		}
		return out
	}
	three := []*api.MemberStatus{member("n1", "valid", true), member("n2", "valid", true), member("n3", "valid", true)}
	for _, tc := range []struct {
		name string
		snap ringSnapshot
		want int
		why  string // "" ready
	}{
		{"no answer", ringSnapshot{err: errors.New("connection refused")}, 3, "ring status: connection refused"},
		{"ready", ringSnapshot{status: &api.RingStatusResponse{Members: three}, members: answered(4, 4, 4)}, 3, ""},
		{"ready by default", ringSnapshot{status: &api.RingStatusResponse{Members: three}, members: answered(4, 4, 4)}, 0, ""},
		{"more than wanted", ringSnapshot{status: &api.RingStatusResponse{Members: three}, members: answered(4, 4, 4)}, 2, ""},
		{"joining", ringSnapshot{
			status:    &api.RingStatusResponse{Members: []*api.MemberStatus{member("n1", "valid", true), member("n2", "valid", true), member("n3", "joining", true)}},
			members:   answered(2, 2, 2),
			transfers: make([]transferOutput, 4),
		}, 3, "waiting for 3 valid members up, have 2 (n3 joining); 4 partitions moving"},
		{"not listed yet", ringSnapshot{status: &api.RingStatusResponse{Members: three[:1]}, members: answered(1)}, 3,
			"waiting for 3 valid members up, have 1 (only 1 listed)"},
		{"one listed is ready by default", ringSnapshot{status: &api.RingStatusResponse{Members: three[:1]}, members: answered(1)}, 0, ""},
		{"epochs differ", ringSnapshot{status: &api.RingStatusResponse{Members: three}, members: answered(5, 4, 5)}, 3,
			"epochs differ: n2 at 4; n1,n3 at 5"},
		{"silent member", ringSnapshot{status: &api.RingStatusResponse{Members: three}, members: []memberView{{answered: true, epoch: 3}, {answered: true, epoch: 3}, {}}}, 3,
			"no answer from n3"},
		{"down and parked", ringSnapshot{
			status:  &api.RingStatusResponse{Members: []*api.MemberStatus{member("n1", "valid", true), member("n2", "valid", false), member("n3", "valid", true), member("n4", "parked", false)}},
			members: []memberView{{answered: true, epoch: 7}, {}, {answered: true, epoch: 7}, {}},
		}, 0, "waiting for 4 valid members up, have 2 (n2 down, n4 parked and down)"},
		{"down members need not answer", ringSnapshot{
			status:  &api.RingStatusResponse{Members: []*api.MemberStatus{member("n1", "valid", true), member("n2", "valid", true), member("n3", "valid", false), member("n4", "parked", false)}},
			members: []memberView{{answered: true, epoch: 7}, {answered: true, epoch: 7}, {}, {}},
		}, 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.snap.waiting(tc.want), "; "); got != tc.why {
				t.Fatalf("waiting(%d) = %q, want %q", tc.want, got, tc.why)
			}
		})
	}
}

// TestRingWaitUsageAndTimeout: bad flags exit 2; nothing listening exits 1
// after --timeout, saying what it waited for.
func TestRingWaitUsageAndTimeout(t *testing.T) {
	for _, args := range [][]string{
		{"ring", "wait", "--members", "-1"},
		{"ring", "wait", "--timeout", "0s"},
		{"ring", "wait", "-o", "yaml"},
		{"ring", "wait", "extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%q)", args, code, exitUsage, errOut.String())
		}
	}
	port := freePorts(t, 1)[0]
	var out, errOut bytes.Buffer
	start := time.Now()
	code := run([]string{"ring", "wait", "--endpoints", fmt.Sprintf("127.0.0.1:%d", port), "--timeout", "600ms"}, &out, &errOut)
	took := time.Since(start)
	if code != exitError || !strings.Contains(errOut.String(), "Error: ring not ready after 600ms: ring status:") {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	if took > 5*time.Second {
		t.Fatalf("a 600ms wait took %v", took)
	}
}

type waitJSON struct {
	Epoch     uint64
	Members   []struct{ ID, Status, State string }
	Transfers []json.RawMessage
	Verdict   string
}

// TestRingWaitProcess: three servers started together; `ring wait
// --members 3` returns once they serve QUORUM, prints the ring (JSON with
// -o json), waits in vain for a fourth member, and after a kill is content
// with two.
func TestRingWaitProcess(t *testing.T) {
	pc := newProcCluster(t, 3)
	for i := range pc.procs {
		pc.spawn(i)
	}
	eps := pc.endpoints()
	start := time.Now()
	out, code := pc.cli("ring", "wait", "--members", "3", "--endpoints", eps, "-o", "json")
	if code != 0 {
		t.Fatalf("ring wait exited %d after %v: %s", code, time.Since(start), out)
	}
	t.Logf("ring wait took %v", time.Since(start).Round(time.Millisecond))
	var st waitJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(st.Members) != 3 || st.Epoch == 0 || len(st.Transfers) != 0 || !strings.HasSuffix(st.Verdict, "— healthy") {
		t.Fatalf("ring wait printed %s", out)
	}
	for _, m := range st.Members {
		if m.Status != "up" || m.State != "valid" {
			t.Fatalf("ring wait returned with %s %s/%s: %s", m.ID, m.Status, m.State, out)
		}
	}
	// Ready means it serves: a QUORUM put and get through each node at once.
	for i, p := range pc.procs {
		k := fmt.Sprintf("ready-%d", i)
		if out, code := pc.cli("put", k, "v", "--endpoints", p.listen); code != 0 {
			t.Fatalf("put through %s right after ring wait exited %d: %s", p.id, code, out)
		}
		if out, code := pc.cli("get", k, "--endpoints", p.listen); code != 0 {
			t.Fatalf("get through %s right after ring wait exited %d: %s", p.id, code, out)
		}
	}
	if out, code := pc.cli("ring", "wait", "--endpoints", eps, "--timeout", "10s"); code != 0 || !strings.Contains(out, "— healthy") {
		t.Fatalf("ring wait without --members exited %d: %s", code, out)
	}
	out, code = pc.cli("ring", "wait", "--members", "4", "--endpoints", eps, "--timeout", "1s")
	if code != exitError || !strings.Contains(out, "Error: ring not ready after 1s: waiting for 4 valid members up, have 3 (only 3 listed)") {
		t.Fatalf("ring wait for a 4th member exited %d: %s", code, out)
	}
	pc.kill(2)
	out, code = pc.cli("ring", "wait", "--endpoints", pc.procs[0].listen, "--timeout", "1s")
	if code != exitError || !(strings.Contains(out, "no answer from n3") || strings.Contains(out, "(n3 down)")) {
		t.Fatalf("ring wait for every member with n3 dead exited %d: %s", code, out)
	}
	out, code = pc.cli("ring", "wait", "--members", "2", "--endpoints", pc.procs[0].listen, "--timeout", "30s")
	if code != 0 || !strings.Contains(out, "2 up, 1 down") {
		t.Fatalf("ring wait --members 2 with n3 dead exited %d: %s", code, out)
	}
}

// TestRingWaitDemo: the demo prints its endpoints only once its ring is
// ready, so `ring wait` is satisfied at once and a QUORUM put works.
func TestRingWaitDemo(t *testing.T) {
	needBinary(t)
	needTourPorts(t) // the demo's fixed ports
	cmd := exec.Command(binary, "demo")
	cmd.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(60 * time.Second)
	for ready := false; !ready; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the demo ended before serving: %s", stderr.String())
			}
			ready = strings.HasPrefix(l, "serving until interrupted")
		case <-timeout:
			t.Fatalf("the demo did not serve within 60s: %s", stderr.String())
		}
	}
	pc := &procCluster{t: t}
	if out, code := pc.cli("ring", "wait", "--members", "3", "--timeout", "300ms"); code != 0 {
		t.Fatalf("ring wait right after the demo printed its endpoints exited %d: %s", code, out)
	}
	if out, code := pc.cli("put", "k", "v"); code != 0 {
		t.Fatalf("put exited %d: %s", code, out)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	for l := range lines {
		if l == "stopping" {
			break
		}
	}
	go func() {
		for range lines { // until the pipe closes
		}
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the demo after SIGTERM: %v: %s", err, stderr.String())
	}
}
