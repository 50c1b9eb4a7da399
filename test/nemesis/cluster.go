package nemesis

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/ring"
)

// proc is one `quorumkv server` process in its namespace.
type proc struct {
	i       int
	id      string
	dataDir string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	paused bool
	offset time.Duration // clock offset it runs with
	// member: the harness counts the slot as a ring member (started as
	// one, or joining, or down in a fault); false: a spare slot (never
	// started, or out of the ring after a leave or a remove).
	member bool
	// starts counts the processes started in this slot.
	starts int

	// kv is a client pinned to this node alone (no key routing, no
	// failover): the harness must know which node each request went to.
	kv *client.Client
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// down reports whether no process runs in the slot (it was never started,
// or it exited and was reaped), and how many were started so far: a slot
// down at two moments with the same count between had no process all along.
func (p *proc) down() (bool, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd == nil, p.starts
}

func (p *proc) isPaused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

func (p *proc) isMember() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.member
}

func (p *proc) setMember(m bool) {
	p.mu.Lock()
	p.member = m
	p.mu.Unlock()
}

// hasData reports whether the slot's data directory holds anything (a
// node that left keeps it).
func (p *proc) hasData() bool {
	ents, err := os.ReadDir(p.dataDir)
	return err == nil && len(ents) > 0
}

type cluster struct {
	net     *network
	binary  string
	dir     string
	testBug string
	extra   []string // extra server flags
	// partitions and replicas are the cluster constants every server gets.
	partitions, replicas int
	procs                []*proc
	// routed is a client as users make it: every node as an endpoint, key
	// routing and failover on.
	routed *client.Client
	logf   func(string, ...any)
	// secure is the TLS and gossip key material of a secure run (nil:
	// plaintext).
	secure *secureSetup
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// fastReconnect keeps a client from backing off for minutes after its node
// was killed: the harness restarts nodes every few seconds.
func fastReconnect() grpc.DialOption {
	return grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 2 * time.Second,
	})
}

func newCluster(net *network, binary, dir, testBug string, extra []string, partitions, replicas int, attempt time.Duration, secure bool, logf func(string, ...any)) (*cluster, error) {
	c := &cluster{net: net, binary: binary, dir: dir, testBug: testBug, extra: extra, partitions: partitions, replicas: replicas, logf: logf}
	if secure {
		ids := make([]string, net.nodes)
		for i := range ids {
			ids[i] = fmt.Sprintf("n%d", i+1)
		}
		s, err := newSecureSetup(filepath.Join(dir, "certs"), net, ids)
		if err != nil {
			return nil, err
		}
		c.secure = s
	}
	for i := range net.nodes {
		p := &proc{
			i: i, id: fmt.Sprintf("n%d", i+1),
			dataDir: filepath.Join(dir, fmt.Sprintf("n%d", i+1)),
			logPath: filepath.Join(dir, fmt.Sprintf("n%d.log", i+1)),
		}
		kv, err := client.New([]string{net.grpcAddr(i)}, append(c.secure.clientOptions(), client.WithAttemptTimeout(attempt),
			client.WithDialOptions(fastReconnect()), client.WithoutRouting())...)
		if err != nil {
			return nil, err
		}
		p.kv = kv
		c.procs = append(c.procs, p)
	}
	var eps []string
	for i := range net.nodes {
		eps = append(eps, net.grpcAddr(i))
	}
	routed, err := client.New(eps, append(c.secure.clientOptions(), client.WithAttemptTimeout(attempt), client.WithDialOptions(fastReconnect()))...)
	if err != nil {
		return nil, err
	}
	c.routed = routed
	return c, nil
}

func (c *cluster) ids() []string {
	out := make([]string, len(c.procs))
	for i, p := range c.procs {
		out[i] = p.id
	}
	return out
}

// memberSlots are the slots the harness counts as ring members.
func (c *cluster) memberSlots() []int {
	var out []int
	for i, p := range c.procs {
		if p.isMember() {
			out = append(out, i)
		}
	}
	return out
}

// spareSlots are the slots out of the ring.
func (c *cluster) spareSlots() []int {
	var out []int
	for i, p := range c.procs {
		if !p.isMember() {
			out = append(out, i)
		}
	}
	return out
}

// memberIDs are the ids of slots, sorted.
func (c *cluster) idsOf(slots []int) []string {
	out := make([]string, 0, len(slots))
	for _, i := range slots {
		out = append(out, c.procs[i].id)
	}
	slices.Sort(out)
	return out
}

func (c *cluster) memberIDs() []string { return c.idsOf(c.memberSlots()) }

// memberAddrs are the gRPC addresses of the member slots.
func (c *cluster) memberAddrs() []string {
	var out []string
	for _, i := range c.memberSlots() {
		out = append(out, c.net.grpcAddr(i))
	}
	return out
}

func (c *cluster) args(i int, offset time.Duration, first bool) []string {
	p := c.procs[i]
	args := []string{"server", "--id", p.id, "--data", p.dataDir,
		"--listen", c.net.grpcAddr(i), "--gossip", c.net.gossipAddr(i),
		"--gossip-profile", "local", "--log-level", "info"}
	// A first start joins n1; a later one every running member (a spare
	// slot's address has no process behind it), or every slot when none
	// runs.
	var join []string
	for j, q := range c.procs {
		if j == i || (first && j > 0) || (!first && !(q.isMember() && q.running())) {
			continue
		}
		join = append(join, c.net.gossipAddr(j))
	}
	if len(join) == 0 && !first {
		for j := range c.procs {
			if j != i {
				join = append(join, c.net.gossipAddr(j))
			}
		}
	}
	if len(join) > 0 && !(first && i == 0) {
		args = append(args, "--join", strings.Join(join, ","))
	}
	args = append(args, "--partitions", strconv.Itoa(c.partitions), "--replicas", strconv.Itoa(c.replicas))
	if offset != 0 {
		args = append(args, "--clock-offset", offset.String())
	}
	if c.testBug != "" {
		args = append(args, "--test-bug", c.testBug)
	}
	args = append(args, c.secure.serverFlags(p.id)...)
	return append(args, c.extra...)
}

// start runs node i (in its namespace) and waits until it serves.
func (c *cluster) start(i int, offset time.Duration, first bool) error {
	p := c.procs[i]
	p.mu.Lock()
	if p.cmd != nil {
		p.mu.Unlock()
		return nil
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.mu.Unlock()
		return err
	}
	args := c.args(i, offset, first)
	fmt.Fprintf(logf, "=== %s start: %s %s\n", time.Now().Format(time.RFC3339Nano), c.binary, strings.Join(args, " "))
	// `ip netns exec` enters the namespace and execs the server: the PID is
	// the server's own, so signals reach it directly.
	cmd := exec.Command("ip", append([]string{"netns", "exec", c.net.ns(i), c.binary}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.mu.Unlock()
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	p.cmd, p.exited, p.paused, p.offset = cmd, exited, false, offset
	p.starts++
	p.mu.Unlock()
	if err := c.waitServing(i, 30*time.Second); err != nil {
		return err
	}
	// The workers' client for this node may still be backing off from the
	// refused connections of its last life: wait until it reaches the node,
	// so requests after the heal measure the store, not the client.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := p.kv.RingStatus(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *cluster) waitServing(i int, timeout time.Duration) error {
	p := c.procs[i]
	cc, err := grpc.NewClient(c.net.grpcAddr(i), grpc.WithTransportCredentials(c.secure.transportCreds()), fastReconnect())
	if err != nil {
		return err
	}
	defer cc.Close()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("%s exited while starting (see %s)", p.id, p.logPath)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not serving after %v: %v (see %s)", p.id, timeout, err, p.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig to node i's process.
func (c *cluster) signal(i int, sig syscall.Signal) error {
	p := c.procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return fmt.Errorf("%s is not running", p.id)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	}
	return nil
}

// kill SIGKILLs node i and waits for it to exit.
func (c *cluster) kill(i int) error { return c.stop(i, syscall.SIGKILL, 0) }

// stop sends sig (SIGKILL, or SIGTERM with a grace before SIGKILL) and waits
// for the process to exit.
func (c *cluster) stop(i int, sig syscall.Signal, grace time.Duration) error {
	p := c.procs[i]
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = cmd.Process.Signal(sig)
	_ = cmd.Process.Signal(syscall.SIGCONT)
	select {
	case <-exited:
	case <-time.After(max(grace, 100*time.Millisecond)):
		_ = cmd.Process.Signal(syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) does not exit", p.id, cmd.Process.Pid)
		}
	}
	p.mu.Lock()
	p.cmd, p.paused = nil, false
	p.mu.Unlock()
	var err error
	if sig == syscall.SIGTERM && cmd.ProcessState != nil && !cmd.ProcessState.Success() {
		err = fmt.Errorf("%s exited with %v after SIGTERM (see %s)", p.id, cmd.ProcessState, p.logPath)
	}
	return err
}

// stopAll stops every node (SIGTERM: a clean drain) in parallel.
func (c *cluster) stopAll(grace time.Duration) error {
	errs := make([]error, len(c.procs))
	var wg sync.WaitGroup
	for i := range c.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.stop(i, syscall.SIGTERM, grace)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killAll SIGKILLs every running node (cleanup on any path).
func (c *cluster) killAll() {
	for i := range c.procs {
		if err := c.kill(i); err != nil {
			c.logf("cleanup: %v", err)
		}
	}
}

func (c *cluster) closeClients() {
	for _, p := range c.procs {
		_ = p.kv.Close()
	}
	if c.routed != nil {
		_ = c.routed.Close()
	}
}

// ringHealthy reports nil when the ring is settled on the member slots
// (ringSettled): a member still joining owns nothing yet, so a fault that
// takes down the only valid member would leave no quorum at all.
func (c *cluster) ringHealthy(ctx context.Context) error {
	return c.ringSettled(ctx, c.memberSlots())
}

// ringSettled reports nil when every slot of members runs unpaused and
// lists exactly members, each up and valid, reports the same ring epoch and
// pulls no partition. Other slots are not asked (a leaving node still
// runs).
func (c *cluster) ringSettled(ctx context.Context, members []int) error {
	want := c.idsOf(members)
	var epoch uint64
	var epochOf string
	for _, i := range members {
		p := c.procs[i]
		if !p.running() || p.isPaused() {
			return fmt.Errorf("%s is not running", p.id)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := p.kv.RingStatus(cctx)
		cancel()
		if err != nil {
			return fmt.Errorf("ring status on %s: %w", p.id, err)
		}
		var listed []string
		for _, m := range st.GetMembers() {
			listed = append(listed, m.GetId())
			if !m.GetUp() {
				return fmt.Errorf("%s sees %s down", p.id, m.GetId())
			}
			if m.GetState() != ring.StateValid.String() {
				return fmt.Errorf("%s sees %s %s", p.id, m.GetId(), m.GetState())
			}
		}
		slices.Sort(listed)
		if !slices.Equal(listed, want) {
			return fmt.Errorf("%s lists %v, want %v", p.id, listed, want)
		}
		if epochOf == "" {
			epoch, epochOf = st.GetEpoch(), p.id
		} else if st.GetEpoch() != epoch {
			return fmt.Errorf("epochs differ: %s at %d, %s at %d", epochOf, epoch, p.id, st.GetEpoch())
		}
		cctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		tr, err := p.kv.Transfers(cctx)
		cancel()
		if err != nil && errCode(err) != codes.Unimplemented {
			return fmt.Errorf("transfers on %s: %w", p.id, err)
		}
		if n := len(tr.GetTransfers()); n > 0 {
			t := tr.GetTransfers()[0]
			return fmt.Errorf("%s is pulling %d partitions (partition %d %s from %v)", p.id, n, t.GetPartition(), t.GetState(), t.GetSources())
		}
	}
	return nil
}

// ringMembers is the member list most running nodes report (every state
// but removed, which ring status does not list), with each member's state
// as the first of them reported it.
func (c *cluster) ringMembers(ctx context.Context) ([]string, map[string]string, error) {
	views := map[string]int{}
	lists := map[string][]string{}
	states := map[string]map[string]string{}
	var errs []error
	for _, p := range c.procs {
		if !p.running() || p.isPaused() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := p.kv.RingStatus(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("ring status on %s: %w", p.id, err))
			continue
		}
		var ids []string
		state := map[string]string{}
		for _, m := range st.GetMembers() {
			ids = append(ids, m.GetId())
			state[m.GetId()] = m.GetState()
		}
		slices.Sort(ids)
		k := strings.Join(ids, ",")
		views[k]++
		lists[k] = ids
		if states[k] == nil {
			states[k] = state
		}
	}
	best, most := "", 0
	for k, n := range views {
		if n > most || n == most && k < best {
			best, most = k, n
		}
	}
	if most == 0 {
		return nil, nil, fmt.Errorf("no node answered: %w", errors.Join(errs...))
	}
	return lists[best], states[best], nil
}

func (c *cluster) waitRing(ctx context.Context, timeout time.Duration) error {
	return c.waitSettled(ctx, nil, timeout)
}

// waitSettled waits until ringSettled holds for members (nil: the member
// slots as they are at each look).
func (c *cluster) waitSettled(ctx context.Context, members []int, timeout time.Duration) error {
	t0 := time.Now()
	deadline, report := t0.Add(timeout), t0.Add(5*time.Second)
	for {
		ms := members
		if ms == nil {
			ms = c.memberSlots()
		}
		err := c.ringSettled(ctx, ms)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ring not settled after %v: %w", timeout, err)
		}
		if timeout > 10*time.Second && time.Now().After(report) {
			c.logf("waiting %.0fs for the ring to settle on %v: %v", time.Since(t0).Seconds(), c.idsOf(ms), err)
			report = time.Now().Add(5 * time.Second)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hints returns, per holder, the hints pending per target.
func (c *cluster) hints(ctx context.Context) (map[string]map[string]uint64, uint64, error) {
	out := map[string]map[string]uint64{}
	var total uint64
	var errs []error
	for _, p := range c.procs {
		if !p.running() || p.isPaused() {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		r, err := p.kv.Hints(cctx)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("hints on %s: %w", p.id, err))
			continue
		}
		out[p.id] = map[string]uint64{}
		for _, t := range r.GetTargets() {
			out[p.id][t.GetTarget()] = t.GetPending()
		}
		total += r.GetPending()
	}
	return out, total, errors.Join(errs...)
}

// repairRound runs an anti-entropy round on every member at once (what
// `quorumkv repair` does).
func (c *cluster) repairRound(ctx context.Context) (repaired, errs uint64, truncated bool, err error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	var all []error
	for _, i := range c.memberSlots() {
		p := c.procs[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, e := p.kv.Repair(ctx, -1)
			mu.Lock()
			defer mu.Unlock()
			if e != nil {
				all = append(all, fmt.Errorf("repair on %s: %w", p.id, e))
				errs++
				return
			}
			repaired += r.GetKeysRepaired()
			errs += r.GetErrors()
			truncated = truncated || r.GetTruncated()
		}()
	}
	wg.Wait()
	return repaired, errs, truncated, errors.Join(all...)
}

// errCode is the gRPC code of a node's answer (codes.Unknown when err is
// not one).
func errCode(err error) codes.Code {
	var se *client.ServerError
	if errors.As(err, &se) {
		return se.Code
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return codes.Unknown
}
