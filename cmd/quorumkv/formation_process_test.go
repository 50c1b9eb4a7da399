package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
)

// Process tests for ring changes with a member that dies (issue 13's
// acceptance list): a fresh cluster must not wait on a dead member, and a
// joiner that dies must block neither the cluster nor later joiners.

// ringClient is a client that talks only to the given servers (no routing
// to other replicas), so requests go through exactly those nodes.
func (pc *procCluster) ringClient(ids ...int) *client.Client {
	pc.t.Helper()
	var eps []string
	for _, i := range ids {
		eps = append(eps, pc.procs[i].listen)
	}
	c, err := client.New(eps, client.WithAttemptTimeout(2*time.Second), client.WithoutRouting())
	if err != nil {
		pc.t.Fatal(err)
	}
	pc.t.Cleanup(func() { _ = c.Close() })
	return c
}

// memberState is id's status in st: "up/valid", "down/joining", … or "".
func memberState(st *api.RingStatusResponse, id string) string {
	for _, m := range st.GetMembers() {
		if m.GetId() == id {
			up := "down"
			if m.GetUp() {
				up = "up"
			}
			return up + "/" + m.GetState()
		}
	}
	return ""
}

func describeRing(st *api.RingStatusResponse) string {
	var parts []string
	for _, m := range st.GetMembers() {
		parts = append(parts, m.GetId()+" "+memberState(st, m.GetId()))
	}
	return fmt.Sprintf("epoch %d: %s", st.GetEpoch(), strings.Join(parts, ", "))
}

// pollRing asks c for the ring every 20 ms until cond holds (true) or
// timeout passes; it returns the last status it saw.
func pollRing(c *client.Client, timeout time.Duration, cond func(*api.RingStatusResponse) bool) (*api.RingStatusResponse, bool) {
	deadline := time.Now().Add(timeout)
	var last *api.RingStatusResponse
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := c.RingStatus(ctx)
		cancel()
		if err == nil {
			last = st
			if cond(st) {
				return st, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return last, false
}

// putGet writes key at QUORUM and reads it back at QUORUM before deadline.
func putGet(c *client.Client, key, value string, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if _, err := c.Put(ctx, []byte(key), []byte(value), client.WithLevel(client.Quorum)); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	res, err := c.Get(ctx, []byte(key), client.WithLevel(client.Quorum))
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	if len(res.Values) != 1 || string(res.Values[0]) != value {
		return fmt.Errorf("get %s = %q, want %q", key, res.Values, value)
	}
	return nil
}

// TestFormationSurvivesDeadMember: three servers start together (n2 and n3
// join n1 at once); n3 is SIGKILLed as soon as the ring status shows it up.
// QUORUM puts and gets through n1 and n2 succeed within 2 s of the kill and
// keep succeeding.
func TestFormationSurvivesDeadMember(t *testing.T) {
	pc := newProcCluster(t, 3)
	for i := range pc.procs {
		pc.spawn(i)
	}
	st, ok := pollRing(pc.ringClient(0), 30*time.Second, func(st *api.RingStatusResponse) bool {
		return strings.HasPrefix(memberState(st, "n3"), "up/")
	})
	if !ok {
		t.Fatalf("n3 not up in n1's ring status after 30s (last: %v)", st)
	}
	t.Logf("killing n3 as soon as it is up: %s", describeRing(st))
	pc.kill(2)
	killed := time.Now()

	c := pc.ringClient(0, 1)
	var err error
	for attempt := 0; ; attempt++ {
		deadline := time.Now().Add(time.Second)
		if limit := killed.Add(2 * time.Second); limit.Before(deadline) {
			deadline = limit
		}
		if err = putGet(c, fmt.Sprintf("first-%d", attempt), "v", deadline); err == nil {
			t.Logf("first QUORUM put+get %v after the kill", time.Since(killed).Round(time.Millisecond))
			break
		}
		if time.Since(killed) >= 2*time.Second {
			st, _ := pollRing(pc.ringClient(0), time.Second, func(*api.RingStatusResponse) bool { return true })
			t.Fatalf("no QUORUM put+get through n1, n2 within 2s of killing n3: %v (ring: %s)", err, describeRing(st))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for round := range 20 {
		k := fmt.Sprintf("round-%d", round)
		if err := putGet(c, k, "v-"+k, time.Now().Add(2*time.Second)); err != nil {
			st, _ := pollRing(pc.ringClient(0), time.Second, func(*api.RingStatusResponse) bool { return true })
			t.Fatalf("round %d, %v after the kill: %v (ring: %s)", round, time.Since(killed).Round(time.Millisecond), err, describeRing(st))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// writer puts and reads back unique keys at QUORUM through fixed nodes
// until stopped, and records every failure.
type writer struct {
	c    *client.Client
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	ok   int
	errs []string
}

func startWriter(c *client.Client) *writer {
	w := &writer{c: c, stop: make(chan struct{}), done: make(chan struct{})}
	start := time.Now()
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			k := fmt.Sprintf("w-%d", i)
			err := putGet(w.c, k, "v-"+k, time.Now().Add(5*time.Second))
			w.mu.Lock()
			if err != nil {
				w.errs = append(w.errs, fmt.Sprintf("%v: %v", time.Since(start).Round(time.Millisecond), err))
			} else {
				w.ok++
			}
			w.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return w
}

// finish stops the writer and returns how many rounds succeeded and the
// failures.
func (w *writer) finish() (int, []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ok, w.errs
}

// TestJoinerKilledWhileJoining: a 3-node cluster with data; a 4th node is
// SIGKILLed while it is still joining; a 5th node started afterwards becomes
// valid; a writer's QUORUM puts and gets through n1–n3 succeed throughout.
func TestJoinerKilledWhileJoining(t *testing.T) {
	pc := startProcCluster(t, 3)
	putKeys(t, pc.client(0, 1, 2), 400)
	w := startWriter(pc.ringClient(0, 1, 2))
	finished := false
	defer func() {
		if !finished {
			w.finish()
		}
	}()
	watch := pc.ringClient(0)

	n4 := pc.addProc()
	pc.spawn(n4)
	st, ok := pollRing(watch, 30*time.Second, func(st *api.RingStatusResponse) bool {
		s := memberState(st, "n4")
		return s == "up/joining" || strings.HasSuffix(s, "/valid")
	})
	if !ok || memberState(st, "n4") != "up/joining" {
		t.Fatalf("never saw n4 up and joining before it turned valid (last: %v)", st)
	}
	t.Logf("killing n4 while it joins: %s", describeRing(st))
	pc.kill(n4)

	n5 := pc.add()
	start := time.Now()
	st, ok = pollRing(watch, 90*time.Second, func(st *api.RingStatusResponse) bool {
		return memberState(st, "n5") == "up/valid"
	})
	if !ok {
		t.Fatalf("n5 not valid 90s after it started (ring: %s)\nn5's log:\n%s", describeRing(st), pc.procs[n5].log)
	}
	t.Logf("n5 valid %v after it started: %s", time.Since(start).Round(time.Millisecond), describeRing(st))
	if s := memberState(st, "n4"); strings.HasSuffix(s, "/valid") {
		t.Errorf("the dead joiner n4 is %s", s)
	}

	// QUORUM keeps working once the ring settles too.
	time.Sleep(time.Second)
	finished = true
	n, errs := w.finish()
	if len(errs) > 0 {
		t.Errorf("%d of %d writer rounds failed; first: %s", len(errs), n+len(errs), strings.Join(errs[:min(len(errs), 5)], "\n"))
	}
	if n == 0 {
		t.Error("the writer did not complete a round")
	}
	t.Logf("writer: %d rounds ok", n)
}
