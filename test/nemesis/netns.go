package nemesis

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// network is the harness's private network: one bridge in the root
// namespace (the clients' side, with the gateway address) and one network
// namespace per node, joined to the bridge by a veth pair. Every name carries
// the harness's PID so concurrent runs do not collide and a later run can
// remove what a killed run left behind. Nothing is routed off the machine:
// the namespaces have no default route and the subnet is a private test
// range that exists only on the bridge.
type network struct {
	tag     string // "qkvnem-<inst>": namespace prefix and iptables comment
	inst    string
	bridge  string
	subnet  string // "10.77.X"
	nodes   int
	created struct {
		bridge, forward bool
		ns              []string
		veths           []string
	}
	logf func(string, ...any)
}

// Names carry an instance id, "<pid><letter>": the harness's PID and a
// letter per run in this process. Interface names stay within 15 bytes.
func nsName(inst string, i int) string   { return fmt.Sprintf("qkvnem-%s-n%d", inst, i+1) }
func bridgeName(inst string) string      { return "qkb" + inst }
func vethHost(inst string, i int) string { return fmt.Sprintf("qkh%sn%d", inst, i+1) }
func vethPeer(inst string, i int) string { return fmt.Sprintf("qkc%sn%d", inst, i+1) }

var instances atomic.Int32

func newInstance() string {
	k := instances.Add(1) - 1
	return fmt.Sprintf("%d%c", os.Getpid(), 'a'+rune(k%26))
}

// setupLock serializes subnet choice and bridge creation between harness
// processes.
func setupLock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "qkvnem.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// checkTools reports what is missing to build the network.
func checkTools() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the nemesis needs root (network namespaces, iptables)")
	}
	for _, t := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("%s not found: apt-get install -y iproute2 iptables", t)
		}
	}
	return nil
}

// pickSubnet returns the first 10.77.X (X >= from) with no route in the root
// namespace, so the bridge never shadows an address in use.
func pickSubnet(from int) (string, error) {
	out, err := run("ip", "-4", "route", "show")
	if err != nil {
		return "", err
	}
	for x := from; x < 255; x++ {
		s := fmt.Sprintf("10.77.%d", x)
		if !strings.Contains(out, s+".") {
			return s, nil
		}
	}
	return "", fmt.Errorf("no free 10.77.X.0/24 subnet")
}

// newNetwork builds the bridge and the namespaces. On error it removes
// whatever it created.
func newNetwork(nodes, subnetFrom int, logf func(string, ...any)) (_ *network, err error) {
	n := &network{inst: newInstance(), nodes: nodes, logf: logf}
	n.tag = "qkvnem-" + n.inst
	n.bridge = bridgeName(n.inst)
	unlock, err := setupLock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n.subnet, err = pickSubnet(subnetFrom); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			n.teardown()
		}
	}()
	if _, err = run("ip", "link", "add", n.bridge, "type", "bridge"); err != nil {
		return nil, err
	}
	n.created.bridge = true
	steps := [][]string{
		{"ip", "addr", "add", n.subnet + ".1/24", "dev", n.bridge},
		{"ip", "link", "set", n.bridge, "up"},
	}
	for _, s := range steps {
		if _, err = run(s[0], s[1:]...); err != nil {
			return nil, err
		}
	}
	// Bridged frames go through the root FORWARD chain when
	// bridge-nf-call-iptables is on (Docker sets its policy to DROP).
	if _, err = run("iptables", n.forwardRule("-I")...); err != nil {
		return nil, err
	}
	n.created.forward = true
	for i := range nodes {
		ns, host, peer := nsName(n.inst, i), vethHost(n.inst, i), vethPeer(n.inst, i)
		if _, err = run("ip", "netns", "add", ns); err != nil {
			return nil, err
		}
		n.created.ns = append(n.created.ns, ns)
		if _, err = run("ip", "link", "add", host, "type", "veth", "peer", "name", peer); err != nil {
			return nil, err
		}
		n.created.veths = append(n.created.veths, host)
		steps := [][]string{
			{"ip", "link", "set", host, "master", n.bridge},
			{"ip", "link", "set", host, "up"},
			{"ip", "link", "set", peer, "netns", ns},
			{"ip", "-n", ns, "link", "set", peer, "name", "eth0"},
			{"ip", "-n", ns, "addr", "add", n.ip(i) + "/24", "dev", "eth0"},
			{"ip", "-n", ns, "link", "set", "eth0", "up"},
			{"ip", "-n", ns, "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if _, err = run(s[0], s[1:]...); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
}

// enableMulticast lets the nodes multicast to each other: a route for
// 224.0.0.0/4 out of each namespace's eth0 (the namespaces have no default
// route), and no IGMP snooping on the bridge, so a group's datagrams reach
// every port whether or not the bridge saw a membership report.
func (n *network) enableMulticast() error {
	if _, err := run("ip", "link", "set", n.bridge, "type", "bridge", "mcast_snooping", "0"); err != nil {
		return err
	}
	for i := range n.nodes {
		if _, err := run("ip", "-n", n.ns(i), "route", "add", "224.0.0.0/4", "dev", "eth0"); err != nil {
			return err
		}
	}
	return nil
}

func (n *network) forwardRule(op string) []string {
	r := []string{op, "FORWARD"}
	if op == "-I" {
		r = append(r, "1")
	}
	return append(r, "-i", n.bridge, "-o", n.bridge, "-m", "comment", "--comment", n.tag, "-j", "ACCEPT")
}

func (n *network) ip(i int) string         { return fmt.Sprintf("%s.%d", n.subnet, 11+i) }
func (n *network) ns(i int) string         { return nsName(n.inst, i) }
func (n *network) gateway() string         { return n.subnet + ".1" }
func (n *network) grpcAddr(i int) string   { return n.ip(i) + ":7101" }
func (n *network) gossipAddr(i int) string { return n.ip(i) + ":7201" }

// iptables runs iptables inside node i's namespace.
func (n *network) iptables(i int, args ...string) error {
	_, err := run("ip", append([]string{"netns", "exec", n.ns(i), "iptables", "-w"}, args...)...)
	return err
}

// cut drops every packet from node i to node j (inside i's namespace, on
// the way out, and inside j's on the way in when both is set).
func (n *network) dropOut(i, j int) error {
	return n.iptables(i, "-A", "OUTPUT", "-d", n.ip(j), "-j", "DROP")
}

func (n *network) dropIn(i, j int) error {
	return n.iptables(i, "-A", "INPUT", "-s", n.ip(j), "-j", "DROP")
}

// cutPair cuts i and j from each other both ways.
func (n *network) cutPair(i, j int) error {
	for _, f := range []func() error{
		func() error { return n.dropOut(i, j) }, func() error { return n.dropIn(i, j) },
		func() error { return n.dropOut(j, i) }, func() error { return n.dropIn(j, i) },
	} {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// healAll flushes the filter rules of every node namespace (the harness is
// the only one to add rules there).
func (n *network) healAll() error {
	var first error
	for i := range n.nodes {
		if err := n.iptables(i, "-F"); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// teardown removes everything newNetwork created, in reverse order, and
// reports nothing: it must run to the end.
func (n *network) teardown() {
	for _, ns := range n.created.ns {
		killNamespacePids(ns, n.logf)
		if _, err := run("ip", "netns", "del", ns); err != nil {
			n.logf("cleanup: %v", err)
		}
	}
	for _, v := range n.created.veths {
		// Normally gone with its peer's namespace.
		if linkExists(v) {
			_, _ = run("ip", "link", "del", v)
		}
	}
	if n.created.forward {
		if _, err := run("iptables", n.forwardRule("-D")...); err != nil {
			n.logf("cleanup: %v", err)
		}
	}
	if n.created.bridge {
		if _, err := run("ip", "link", "del", n.bridge); err != nil {
			n.logf("cleanup: %v", err)
		}
	}
}

func linkExists(name string) bool {
	_, err := os.Stat("/sys/class/net/" + name)
	return err == nil
}

// killNamespacePids SIGKILLs the processes still running in namespace ns
// (only ours can be there: the namespace is ours).
func killNamespacePids(ns string, logf func(string, ...any)) {
	out, err := run("ip", "netns", "pids", ns)
	if err != nil {
		return
	}
	for _, f := range strings.Fields(out) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 {
			continue
		}
		logf("cleanup: killing leftover pid %d in %s", pid, ns)
		_ = syscall.Kill(pid, syscall.SIGCONT)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if len(strings.Fields(out)) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
}

var (
	staleNS      = regexp.MustCompile(`^qkvnem-((\d+)[a-z])-n\d+`)
	staleComment = regexp.MustCompile(`--comment "?qkvnem-((\d+)[a-z])"?`)
	staleBridge  = regexp.MustCompile(`^qkb((\d+)[a-z])$`)
)

// pidAlive reports whether process pid runs (a zombie does not: where no
// init reaps orphans, a killed harness stays one).
func pidAlive(pid string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// cleanStale removes the namespaces, bridge and FORWARD rule of earlier
// harness runs whose process is gone (a run killed with SIGKILL cannot clean
// up after itself).
func cleanStale(logf func(string, ...any)) {
	dead := map[string]bool{} // instance ids
	if out, err := run("ip", "netns", "list"); err == nil {
		for _, line := range strings.Split(out, "\n") {
			m := staleNS.FindStringSubmatch(strings.TrimSpace(line))
			if m == nil || pidAlive(m[2]) {
				continue
			}
			ns := strings.Fields(line)[0]
			logf("cleanup: removing stale namespace %s", ns)
			killNamespacePids(ns, logf)
			_, _ = run("ip", "netns", "del", ns)
			dead[m[1]] = true
		}
	}
	rules, _ := run("iptables", "-S", "FORWARD")
	for _, line := range strings.Split(rules, "\n") {
		m := staleComment.FindStringSubmatch(line)
		if m == nil || pidAlive(m[2]) {
			continue
		}
		dead[m[1]] = true
		spec := strings.Fields(strings.Replace(line, "-A FORWARD", "-D FORWARD", 1))
		for i, f := range spec {
			spec[i] = strings.Trim(f, `"`)
		}
		logf("cleanup: removing stale iptables rule %s", line)
		_, _ = run("iptables", spec...)
	}
	if ents, err := os.ReadDir("/sys/class/net"); err == nil {
		for _, e := range ents {
			if m := staleBridge.FindStringSubmatch(e.Name()); m != nil && !pidAlive(m[2]) {
				dead[m[1]] = true
			}
		}
	}
	for inst := range dead {
		if b := bridgeName(inst); linkExists(b) {
			logf("cleanup: removing stale bridge %s", b)
			_, _ = run("ip", "link", "del", b)
		}
	}
}
