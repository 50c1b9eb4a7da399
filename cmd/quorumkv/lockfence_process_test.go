package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/serial"
)

// R11 (CASPaxos design brief §4.3; Kleppmann, "How to do distributed
// locking", and etcd's contrib/lock reproduction of it): a lock holder that
// pauses past its ttl loses the lock to a contender, wakes up still
// believing it holds it and writes with its old token. The store must
// refuse that write, every time.

const (
	r11HolderEnv    = "QKV_R11_HOLDER"    // "1": this test binary is the holder process
	r11EndpointsEnv = "QKV_R11_ENDPOINTS" // the holder's servers, comma-separated
	r11Lock         = "r11-lock"
	r11Register     = "r11-register"
	r11TTL          = 2 * time.Second
	r11Rounds       = 5
	r11Budget       = 50 * time.Second // the rounds together (each takes ~2.5 s)
	r11ReplyWait    = 30 * time.Second // the longest the test waits for a holder's answer
	r11ReplyPrefix  = "r11 "
	r11MaxCommands  = 100 // a holder answers at most this many commands
	// r11EndedWithin: a resumed holder's lease Context, its validity long
	// past, ends this soon after the holder reads its next command (its
	// expiry timer is overdue; only the scheduler delays it).
	r11EndedWithin = time.Second
)

// r11Reply is the holder's answer to one command, a JSON line on its stdout
// after r11ReplyPrefix.
type r11Reply struct {
	Op    string `json:"op"`
	Token uint64 `json:"token"`
	Err   string `json:"err,omitempty"` // the command could not be carried out
	// write: whether the lease's Context had ended when the holder read
	// the command (just after its resume), what became of the write with
	// the old token (applied, fenced, or the error) and the newer token
	// that fenced it, why the Context ended (expired, lost, or "not ended"
	// within 5 s), how long after the holder read the command it was seen
	// ended (0: at once), and what the Release that follows answered (lost,
	// released, or the error).
	DoneAtResume bool   `json:"done_at_resume"`
	Outcome      string `json:"outcome"`
	FenceSeen    uint64 `json:"fence_seen"`
	Cause        string `json:"cause"`
	CauseAfterMs int64  `json:"cause_after_ms"`
	Release      string `json:"release"`
}

// TestR11HolderChild is not a test of its own: it is the lock holder of
// TestR11KleppmannPausedHolderIsFenced, run as a process of its own (this
// test binary run again, with QKV_R11_HOLDER=1) so that the test can
// SIGSTOP it. Without that variable it is skipped.
func TestR11HolderChild(t *testing.T) {
	if os.Getenv(r11HolderEnv) != "1" {
		t.Skip("the holder process of TestR11KleppmannPausedHolderIsFenced")
	}
	if err := r11Holder(os.Stdin, os.Stdout, strings.Split(os.Getenv(r11EndpointsEnv), ",")); err != nil {
		t.Fatal(err)
	}
}

// r11Holder runs the holder's commands, a line each on in, until in ends:
// "acquire ROUND" acquires the lock (ttl r11TTL) and writes holder-ROUND to
// the register fenced with its token; "write ROUND" writes stale-ROUND fenced
// with that same token whatever its lease's Context says (the pause fell
// after the holder's check: what no lease can prevent), then releases.
func r11Holder(in io.Reader, out io.Writer, endpoints []string) error {
	c, err := client.New(endpoints, client.WithAttemptTimeout(5*time.Second))
	if err != nil {
		return err
	}
	defer c.Close()
	reply := func(r r11Reply) error {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(out, "%s%s\n", r11ReplyPrefix, b)
		return err
	}
	var lease *client.Lease
	sc := bufio.NewScanner(in)
	for i := 0; i < r11MaxCommands && sc.Scan(); i++ {
		var op, round string
		if _, err := fmt.Sscan(sc.Text(), &op, &round); err != nil {
			return fmt.Errorf("command %q: %v", sc.Text(), err)
		}
		var r r11Reply
		switch op {
		case "acquire":
			r, lease = r11Acquire(c, round)
		case "write":
			r = r11StaleWrite(c, lease, round)
		default:
			return fmt.Errorf("unknown command %q", sc.Text())
		}
		if err := reply(r); err != nil {
			return err
		}
	}
	return sc.Err()
}

func r11Acquire(c *client.Client, round string) (r11Reply, *client.Lease) {
	r := r11Reply{Op: "acquire"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lease, err := c.Acquire(ctx, r11Lock, "holder", r11TTL, client.WaitFor(10*time.Second))
	if err != nil {
		r.Err = fmt.Sprintf("acquire: %v", err)
		return r, nil
	}
	r.Token = lease.Token()
	if lease.Context().Err() != nil {
		r.Err = fmt.Sprintf("lease of token %d ended at once: %v", r.Token, context.Cause(lease.Context()))
		return r, lease
	}
	if _, err := c.CompareAndSet(ctx, []byte(r11Register), []byte("holder-"+round), client.Condition{},
		client.WithFence(r11Lock, r.Token)); err != nil {
		r.Err = fmt.Sprintf("write while holding token %d: %v", r.Token, err)
	}
	return r, lease
}

func r11StaleWrite(c *client.Client, lease *client.Lease, round string) r11Reply {
	r := r11Reply{Op: "write"}
	if lease == nil {
		r.Err = "write before a successful acquire"
		return r
	}
	resumed := time.Now()
	r.Token, r.DoneAtResume = lease.Token(), lease.Context().Err() != nil
	ended := make(chan time.Duration, 1)
	defer context.AfterFunc(lease.Context(), func() { ended <- time.Since(resumed) })()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := c.CompareAndSet(ctx, []byte(r11Register), []byte("stale-"+round), client.Condition{},
		client.WithFence(r11Lock, lease.Token()))
	var fenced *client.FencedError
	switch {
	case err == nil:
		r.Outcome = "applied"
	case errors.As(err, &fenced):
		r.Outcome, r.FenceSeen = "fenced", fenced.Seen
	default:
		r.Outcome = err.Error()
	}
	select {
	case after := <-ended:
		r.CauseAfterMs = after.Milliseconds()
		switch cause := context.Cause(lease.Context()); {
		case errors.Is(cause, client.ErrLeaseExpired):
			r.Cause = "expired"
		case errors.Is(cause, client.ErrLockLost):
			r.Cause = "lost"
		default:
			r.Cause = cause.Error()
		}
	case <-time.After(5 * time.Second):
		r.Cause = "not ended"
	}
	switch err := lease.Release(ctx); {
	case errors.Is(err, client.ErrLockLost):
		r.Release = "lost"
	case err == nil:
		r.Release = "released"
	default:
		r.Release = err.Error()
	}
	return r
}

// TestR11KleppmannPausedHolderIsFenced (R11: Kleppmann; etcd contrib/lock):
// three servers; a holder process acquires the lock (ttl 2 s, token t1)
// and writes the register fenced with t1; the test SIGSTOPs it; a
// contender (this process) asks for the lock and is granted it (t2 > t1)
// no sooner than ttl·(1+ρ) after the pause began, and writes fenced with
// t2; the holder is resumed and writes with t1: the store refuses it as
// fenced by t2 (and so does the CLI, exit code 5), the register keeps the
// contender's value and version, the holder's lease Context has ended
// (validity over, or the lock lost) within 1 s of its resume, and its
// release answers lost. Five
// rounds on the same lock and register, every one refused, tokens strictly
// increasing throughout.
func TestR11KleppmannPausedHolderIsFenced(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	pc := startProcCluster(t, 3)
	eps := pc.endpoints()
	holder := startR11Holder(t, eps)
	cl := pc.client(0, 1, 2)
	takeover := time.Duration(float64(r11TTL) * (1 + serial.DefaultRho))

	begin := time.Now()
	var last uint64 // the newest token seen
	doneAtResume := 0
	for round := 1; round <= r11Rounds; round++ {
		if time.Since(begin) > r11Budget {
			t.Fatalf("round %d not started after %v", round, r11Budget)
		}
		a := holder.do(t, fmt.Sprintf("acquire %d", round))
		t1 := a.Token
		if t1 <= last {
			t.Fatalf("round %d: holder's token %d, want > %d", round, t1, last)
		}

		holder.signal(t, syscall.SIGSTOP)
		stoppedAt := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		lease, err := cl.Acquire(ctx, r11Lock, "contender", r11TTL, client.WaitFor(15*time.Second))
		waited := time.Since(stoppedAt)
		if err != nil {
			cancel()
			t.Fatalf("round %d: contender's acquire %v after the holder's pause: %v", round, waited, err)
		}
		t2 := lease.Token()
		if t2 <= t1 {
			t.Fatalf("round %d: contender's token %d, want > holder's %d", round, t2, t1)
		}
		if waited < takeover {
			t.Errorf("round %d: contender granted %v after the holder's pause, want >= ttl·(1+ρ) = %v", round, waited, takeover)
		}
		want := fmt.Sprintf("contender-%d", round)
		if _, err := cl.CompareAndSet(ctx, []byte(r11Register), []byte(want), client.Condition{},
			client.WithFence(r11Lock, t2)); err != nil {
			t.Fatalf("round %d: contender's write with token %d: %v", round, t2, err)
		}

		holder.signal(t, syscall.SIGCONT)
		w := holder.do(t, fmt.Sprintf("write %d", round))
		t.Logf("round %d: tokens %d -> %d, contender granted %v after the pause; holder resumed: context done at once %v, ended (%s) within %d ms, write %s, release %s",
			round, t1, t2, waited.Round(time.Millisecond), w.DoneAtResume, w.Cause, w.CauseAfterMs, w.Outcome, w.Release)
		if w.DoneAtResume {
			doneAtResume++
		}
		if w.Outcome != "fenced" || w.FenceSeen != t2 {
			t.Errorf("round %d: the resumed holder's write with token %d: %s (newer token %d), want fenced by %d",
				round, t1, w.Outcome, w.FenceSeen, t2)
		}
		if (w.Cause != "expired" && w.Cause != "lost") || w.CauseAfterMs > r11EndedWithin.Milliseconds() {
			t.Errorf("round %d: the resumed holder's lease context: %s within %d ms, want ended (validity over or lock lost) within %v",
				round, w.Cause, w.CauseAfterMs, r11EndedWithin)
		}
		if w.Release != "lost" {
			t.Errorf("round %d: the resumed holder's release: %s, want lost", round, w.Release)
		}

		res, err := cl.SerialGet(ctx, []byte(r11Register))
		switch {
		case err != nil:
			t.Errorf("round %d: serial get: %v", round, err)
		case !res.Found || string(res.Value) != want || res.Version != uint64(2*round):
			t.Errorf("round %d: register = %q (found %v) at version %d, want %q at %d (the refused write changed nothing)",
				round, res.Value, res.Found, res.Version, want, 2*round)
		}
		out, code := pc.cli("serial", "put", r11Register, "cli-stale", "--fence", fmt.Sprintf("%s:%d", r11Lock, t1),
			"-o", "json", "--endpoints", eps)
		if code != exitNotApplied || !strings.Contains(out, fmt.Sprintf("token %d", t2)) {
			t.Errorf("round %d: CLI serial put --fence %s:%d exited %d, want %d (fenced by %d): %s",
				round, r11Lock, t1, code, exitNotApplied, t2, out)
		}

		if err := lease.Release(ctx); err != nil {
			t.Errorf("round %d: contender's release: %v", round, err)
		}
		cancel()
		if t.Failed() {
			t.FailNow()
		}
		last = t2
	}
	t.Logf("%d rounds in %v; the holder's context had ended when it read its command in %d of them",
		r11Rounds, time.Since(begin).Round(time.Millisecond), doneAtResume)
}

// r11Proc is the holder process.
type r11Proc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	replies *r11Lines
	stderr  *r11Buffer
}

// startR11Holder runs this test binary again as the holder (in its own
// process group: should the test binary die while the holder is stopped,
// the orphaned group gets SIGHUP and SIGCONT and the holder exits; it also
// exits when its stdin closes). It is SIGCONTed and killed, by its pid,
// when the test ends.
func startR11Holder(t *testing.T, endpoints string) *r11Proc {
	t.Helper()
	h := &r11Proc{replies: &r11Lines{c: make(chan string, r11MaxCommands)}, stderr: &r11Buffer{}}
	// -test.short: TestMain then skips building the server binary.
	h.cmd = exec.Command(os.Args[0], "-test.run=^TestR11HolderChild$", "-test.count=1", "-test.short")
	h.cmd.Env = append(os.Environ(), r11HolderEnv+"=1", r11EndpointsEnv+"="+endpoints)
	h.cmd.Stdout, h.cmd.Stderr = h.replies, h.stderr
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var err error
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = h.cmd.Process.Signal(syscall.SIGCONT)
		_ = h.cmd.Process.Kill()
		_ = h.cmd.Wait()
		if t.Failed() {
			t.Logf("holder's stderr:\n%s", h.stderr)
		}
	})
	return h
}

func (h *r11Proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := h.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to the holder: %v", sig, err)
	}
}

// do sends the holder a command and returns its answer.
func (h *r11Proc) do(t *testing.T, command string) r11Reply {
	t.Helper()
	if _, err := fmt.Fprintln(h.stdin, command); err != nil {
		t.Fatalf("holder command %q: %v\n%s", command, err, h.stderr)
	}
	select {
	case line := <-h.replies.c:
		var r r11Reply
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("holder answer to %q: %v: %s", command, err, line)
		}
		if r.Err != "" {
			t.Fatalf("holder %q: %s", command, r.Err)
		}
		return r
	case <-time.After(r11ReplyWait):
		t.Fatalf("holder did not answer %q within %v\n%s", command, r11ReplyWait, h.stderr)
	}
	return r11Reply{}
}

// r11Lines is the holder's stdout: it passes on each line that starts
// with r11ReplyPrefix (without it) and drops the test framework's lines.
type r11Lines struct {
	mu      sync.Mutex
	partial []byte
	c       chan string
}

func (l *r11Lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		if rest, ok := strings.CutPrefix(line, r11ReplyPrefix); ok {
			select {
			case l.c <- rest:
			default: // more answers than commands: the test fails on what it got
			}
		}
	}
}

// r11Buffer is a bytes.Buffer safe to read while a process writes it.
type r11Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *r11Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *r11Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
