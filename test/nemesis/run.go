package nemesis

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Config is one nemesis run.
type Config struct {
	Seed     uint64
	Duration time.Duration // how long workloads and faults run
	Nodes    int           // ring members at the start (3 or 5)
	// Spares are process slots beyond Nodes, out of the ring at the start;
	// membership faults join them, and a node that left or was removed
	// becomes one (default 1 when a membership fault is drawn, else 0).
	Spares int
	// MinMembers and MaxMembers bound the member count membership faults
	// keep (defaults: max(Replicas+1, 4) and min(6, Nodes+Spares)).
	MinMembers, MaxMembers int
	// SettleTimeout bounds the wait for a membership change to settle, and
	// for the ring after the final heal (default 45 s).
	SettleTimeout time.Duration
	// CommitBefore and CommitAfter: requests overlapping [c-CommitBefore,
	// c+CommitAfter] of an epoch change c are left out of the availability
	// figures (defaults 1 s and 2 s; c spans the 250 ms poll that saw it).
	CommitBefore, CommitAfter time.Duration
	// ShortGrace is the short-grace profile: the servers reap tombstones
	// after TombstoneGrace (default 20 s), keep hints for HintWindow (8 s;
	// a hint's max age is half the grace), run anti-entropy every
	// AntiEntropyInterval (3 s), skews are ShortGraceSkews, and the delete
	// chains pause past the grace (grace + 2 rounds) between some steps.
	// Without it, non-zero TombstoneGrace, HintWindow and
	// AntiEntropyInterval are passed to the servers as they are.
	ShortGrace                                      bool
	TombstoneGrace, HintWindow, AntiEntropyInterval time.Duration
	// ConcurrentMembership runs the membership changes on their own,
	// concurrent with the other faults (a change at a time, each an
	// Interval after the last settled; a fault never picks the node a
	// change acts on, nor a change a node under a fault) instead of in
	// turn with them. Needs both kinds of faults in Faults.
	ConcurrentMembership bool
	// MembershipPerCycle is how many membership kinds each cycle of the
	// draw holds (0: all of those in Faults; every other kind is in every
	// cycle): a change lasts until it has settled, so fewer per cycle leave
	// room for more faults.
	MembershipPerCycle int
	// MinFaults and MinMembershipChanges fail a run with fewer faults or
	// settled membership changes (a CI run must not pass vacuously).
	MinFaults, MinMembershipChanges int
	Binary                          string // the quorumkv binary, built with FaultTag (BuildBinary)
	// Faults are the kinds drawn (DefaultFaults when empty).
	Faults []string
	Skews  []time.Duration // DefaultSkews when empty
	// Interval is the time between fault starts; HoldMin..HoldMax the time a
	// fault lasts before it is healed.
	Interval, HoldMin, HoldMax time.Duration
	FirstFault                 time.Duration // delay before the first fault
	// Coordinators are the nodes (indexes) clients send requests to (all
	// slots when empty).
	Coordinators []int
	// Targets are the nodes (indexes) faults pick from (every member when
	// empty).
	Targets []int
	// Workers per workload and coordinator (each worker sends all its
	// requests to one coordinator).
	UniqueWorkers, SetWorkers, DeleteWorkers int
	// RoutedWorkers per workload use a client as users make it (every node
	// as an endpoint, key routing and failover); their requests count in
	// the totals but not in the per-side availability figures.
	RoutedWorkers     int
	SetKeys, SetLimit int // shared set keys, adds per key before it is replaced
	// DeleteSteps is the length of every delete chain (0: 3 to 9, drawn
	// per key; 2: put, delete).
	DeleteSteps     int
	MaxKeys         int // bound per worker
	Think           time.Duration
	OpTimeout       time.Duration // deadline of one client request
	ConvergeTimeout time.Duration // replicas must converge this soon after the final heal
	// TestBug breaks the servers on purpose (--test-bug), to show the checker bites.
	TestBug string
	// ServerFlags are added to every server's command line.
	ServerFlags []string
	Partitions  int
	Replicas    int
	SubnetFrom  int    // first X of 10.77.X.0/24 to try
	KeepData    string // "failure" (default), "always" or "never"
	// RequireAvailability fails the run when, during single-node faults,
	// fewer than 99 % of majority-side requests succeeded or a request to a
	// node cut off by the network hung until its deadline.
	RequireAvailability bool
	// JudgeUsers fails the run when, during a fault of a UserFaults kind,
	// fewer than UserOKRatio of the ring-aware client's requests succeeded
	// or their p99 latency exceeded UserP99 (Availability.Users).
	JudgeUsers bool

	// Registers runs the register workload too (register.go):
	// RegisterKeys register keys r-* (default 5) and the counter
	// r-counter, each with RegisterWorkers workers per coordinator pinned
	// to it (default 1) and RoutedWorkers on the ring-aware client, and at
	// most RegisterOps operations (default 2000) spread over the run. The
	// histories are checked with porcupine, all keys within CheckTimeout
	// (default 60 s); a key that is not linearizable or a checker time-out
	// fails the run. MaxUnknown fails it when a larger share of the
	// register operations had an unknown outcome (0: reported only).
	Registers                                  bool
	RegisterKeys, RegisterWorkers, RegisterOps int
	CheckTimeout                               time.Duration
	MaxUnknown                                 float64

	// Registry runs the registry workload too (registry.go): 8 instances
	// registering on 3 s leases through the ring-aware client, half of
	// them dying during the run; after the final heal every live one must
	// be listed and none that died.
	Registry bool

	// Secure runs the servers with TLS on every connection, client
	// certificates required and encrypted gossip (certificates made for
	// the run); the harness's clients use an admin client certificate.
	Secure bool

	Logf func(format string, args ...any)
}

// The bar users' requests must meet during the UserFaults kinds.
const (
	UserOKRatio = 0.99
	UserP99     = time.Second
)

func (c *Config) setDefaults() {
	if c.Duration == 0 {
		c.Duration = 75 * time.Second
	}
	if c.Nodes == 0 {
		c.Nodes = 3
	}
	if len(c.Faults) == 0 {
		c.Faults = DefaultFaults
	}
	c.Faults = expandFaults(c.Faults)
	if c.Replicas == 0 {
		c.Replicas = 3
	}
	membership := slices.ContainsFunc(c.Faults, isMembership)
	if c.Spares == 0 && membership {
		c.Spares = 1
	}
	if c.Spares < 0 {
		c.Spares = 0
	}
	if c.MinMembers == 0 {
		c.MinMembers = max(c.Replicas+1, 4)
	}
	if c.MaxMembers == 0 {
		c.MaxMembers = min(6, c.Nodes+c.Spares)
	}
	if c.SettleTimeout == 0 {
		c.SettleTimeout = 45 * time.Second
	}
	if c.CommitBefore == 0 {
		c.CommitBefore = time.Second
	}
	if c.CommitAfter == 0 {
		c.CommitAfter = 2 * time.Second
	}
	if c.ShortGrace {
		if c.TombstoneGrace == 0 {
			c.TombstoneGrace = 20 * time.Second
		}
		if c.HintWindow == 0 {
			c.HintWindow = 8 * time.Second
		}
		if c.AntiEntropyInterval == 0 {
			c.AntiEntropyInterval = 3 * time.Second
		}
		if len(c.Skews) == 0 {
			c.Skews = ShortGraceSkews
		}
	}
	if len(c.Skews) == 0 {
		c.Skews = DefaultSkews
	}
	if c.Interval == 0 {
		c.Interval = 8 * time.Second
	}
	if c.HoldMax == 0 {
		c.HoldMax = min(10*time.Second, c.Interval-1500*time.Millisecond)
	}
	if c.HoldMin == 0 {
		c.HoldMin = min(5*time.Second, c.HoldMax)
	}
	if c.FirstFault == 0 {
		c.FirstFault = 3 * time.Second
	}
	if len(c.Coordinators) == 0 {
		for i := range c.Nodes + c.Spares {
			c.Coordinators = append(c.Coordinators, i)
		}
	}
	if c.UniqueWorkers+c.SetWorkers+c.DeleteWorkers == 0 {
		c.UniqueWorkers, c.SetWorkers, c.DeleteWorkers = 1, 1, 1
	}
	if c.SetKeys == 0 {
		c.SetKeys = 6
	}
	if c.SetLimit == 0 {
		c.SetLimit = 100
	}
	if c.MaxKeys == 0 {
		c.MaxKeys = 20000
	}
	if c.OpTimeout == 0 {
		c.OpTimeout = 5 * time.Second
	}
	if c.ConvergeTimeout == 0 {
		c.ConvergeTimeout = 60 * time.Second
	}
	if c.Partitions == 0 {
		c.Partitions = 1024
	}
	if c.KeepData == "" {
		c.KeepData = "failure"
	}
	if c.RegisterKeys == 0 {
		c.RegisterKeys = 5
	}
	if c.RegisterWorkers == 0 {
		c.RegisterWorkers = 1
	}
	if c.RegisterOps == 0 {
		c.RegisterOps = 2000
	}
	if c.CheckTimeout == 0 {
		c.CheckTimeout = 60 * time.Second
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// serverFlags are the flags every server gets: the profile's, then
// ServerFlags (the later flag wins).
func (c *Config) serverFlags() []string {
	var out []string
	if c.TombstoneGrace > 0 {
		out = append(out, "--tombstone-grace="+c.TombstoneGrace.String())
	}
	if c.HintWindow > 0 {
		out = append(out, "--hint-window="+c.HintWindow.String())
	}
	if c.AntiEntropyInterval > 0 {
		out = append(out, "--anti-entropy-interval="+c.AntiEntropyInterval.String())
	}
	return append(out, c.ServerFlags...)
}

// delGap is the long pause of the delete chains: past the tombstone grace
// and two anti-entropy rounds when reaping is on in the run, so keys are
// re-created after their tombstone was reaped.
func (c *Config) delGap() time.Duration {
	if c.TombstoneGrace > 0 && c.TombstoneGrace < time.Minute {
		return c.TombstoneGrace + 2*max(c.AntiEntropyInterval, time.Second)
	}
	return 10 * time.Second
}

// SideStats are availability figures for one side of a fault.
type SideStats struct {
	MajorityOps   int     `json:"majority_ops"`
	MajorityOK    int     `json:"majority_ok"`
	MajorityRatio float64 `json:"majority_ratio"`
	IsolatedOps   int     `json:"isolated_ops"`
	IsolatedOK    int     `json:"isolated_ok"`
	IsolatedFast  int     `json:"isolated_failed_fast"`
	IsolatedHung  int     `json:"isolated_hung"`
	IsolatedMaxMs int64   `json:"isolated_max_latency_ms"`
	MajorityP99Ms int64   `json:"majority_p99_latency_ms"`
	// MajorityFailures counts majority-side failures by coordinator and
	// error class ("n1 unavailable_write").
	MajorityFailures map[string]int `json:"majority_failures,omitempty"`
	majorityLatens   []time.Duration
}

// UserStats are the ring-aware client's requests during one kind of fault.
type UserStats struct {
	Ops      int            `json:"ops"`
	OK       int            `json:"ok"`
	Ratio    float64        `json:"ratio"`
	P99Ms    int64          `json:"p99_latency_ms"`
	MaxMs    int64          `json:"max_latency_ms"`
	Failures map[string]int `json:"failures,omitempty"` // by error class
	// Stalls are the requests that failed or took longer than UserP99, by
	// where they waited: "faulted_coordinator" (the faulted node answered
	// it: the client sent it there, a client-side stall),
	// "healthy_coordinator" (another node coordinated it and was slow: a
	// server-side stall) or "failed" (no answer says who).
	Stalls map[string]int `json:"stalls,omitempty"`
	latens []time.Duration
}

// met reports the bar is met.
func (u *UserStats) met() bool { return u.Ratio >= UserOKRatio && u.P99Ms <= UserP99.Milliseconds() }

// add counts one request; faulted names the faulted nodes.
func (u *UserStats) add(o opRecord, faulted []string) {
	u.Ops++
	u.latens = append(u.latens, o.lat)
	u.MaxMs = max(u.MaxMs, o.lat.Milliseconds())
	if o.class == "" {
		u.OK++
	} else {
		if u.Failures == nil {
			u.Failures = map[string]int{}
		}
		u.Failures[o.class]++
	}
	if o.class == "" && o.lat <= UserP99 {
		return
	}
	where := "failed"
	switch {
	case o.class != "":
	case slices.Contains(faulted, o.coordinator):
		where = "faulted_coordinator"
	default:
		where = "healthy_coordinator"
	}
	if u.Stalls == nil {
		u.Stalls = map[string]int{}
	}
	u.Stalls[where]++
}

// finish computes the ratio and the p99.
func (u *UserStats) finish() {
	if u.Ops > 0 {
		u.Ratio = float64(int64(float64(u.OK)/float64(u.Ops)*10000)) / 10000
	}
	if n := len(u.latens); n > 0 {
		slices.Sort(u.latens)
		u.P99Ms = u.latens[(99*n+99)/100-1].Milliseconds() // nearest rank
	}
}

// QuietStats count the requests that started and ended while no fault was
// in force (the cluster may still be recovering from the last one).
type QuietStats struct {
	Ops    int            `json:"ops"`
	Failed int            `json:"failed"`
	ByNode map[string]int `json:"failures,omitempty"` // by coordinator and error class
}

// CommitExclusion says which requests the availability figures leave out
// around ring epoch changes (commits).
type CommitExclusion struct {
	Rule         string `json:"rule"`
	EpochChanges int    `json:"epoch_changes"`
	// Ops: requests within single-node faults left out (MajorityOps of them
	// on the majority side, MajorityFailed of those failed).
	Ops            int `json:"ops"`
	MajorityOps    int `json:"majority_ops"`
	MajorityFailed int `json:"majority_failed"`
}

// Availability is measured over the ops that started and ended within one
// single-node fault (isolate, kill, pause, skew, wipe, and the membership
// changes: the node joining, leaving or removed is the faulted one): the
// majority side is every request coordinated by another node; the isolated
// side those sent to the faulted node. Requests overlapping a ring commit
// (CommitExclusion) are left out.
type Availability struct {
	SideStats
	CommitExclusion CommitExclusion `json:"commit_exclusion"`
	// MajorityOK99: at least 99 % of majority-side requests succeeded.
	MajorityOK99 bool `json:"majority_ok_99"`
	// IsolatedFailFast: no request sent to a node cut off by the network
	// (fault isolate) hung until its deadline.
	IsolatedFailFast bool                  `json:"isolated_fail_fast"`
	ByFault          map[string]*SideStats `json:"by_fault"`
	// Quiet: requests with no fault in force.
	Quiet QuietStats `json:"no_fault"`
	// Users: every request of the ring-aware client that started while a
	// fault of a UserFaults kind was in force (healed meanwhile or not),
	// by kind; UsersOK: each kind that ran met the bar (UserOKRatio,
	// UserP99).
	Users   map[string]*UserStats `json:"users_by_fault"`
	UsersOK bool                  `json:"users_ok"`
	// Routed: requests of the routing client during single-node faults.
	Routed struct {
		Ops   int     `json:"ops"`
		OK    int     `json:"ok"`
		Ratio float64 `json:"ratio"`
	} `json:"routed"`
}

// Summary is the run's outcome; the JSON is the harness's last output line.
type Summary struct {
	Seed            uint64         `json:"seed"`
	DurationS       float64        `json:"duration_s"`
	Ops             int            `json:"ops"`
	Acknowledged    int            `json:"acknowledged"`
	Lost            int            `json:"lost"`
	Unexpected      int            `json:"unexpected"`
	Resurrected     int            `json:"resurrected"`
	Duplicated      int            `json:"duplicated"`
	ConvergedAfterS *float64       `json:"converged_after_s"`
	FailuresByKind  map[string]int `json:"failures_by_kind"`
	Availability    Availability   `json:"availability"`
	Faults          int            `json:"faults"`
	FaultsByKind    map[string]int `json:"faults_by_kind"`
	Nodes           int            `json:"nodes"`
	Slots           int            `json:"slots"`
	Profile         string         `json:"profile,omitempty"`
	// ConcurrentMembership: membership changes ran concurrent with the
	// other faults (Config.ConcurrentMembership).
	ConcurrentMembership bool     `json:"concurrent_membership,omitempty"`
	MembersFinal         []string `json:"members_final"`
	// Membership changes that settled (and those that did not), every ring
	// epoch change seen, tombstones reaped (at least), and the reads at ONE
	// after each change settled.
	MembershipChanges int               `json:"membership_changes"`
	MembershipFailed  int               `json:"membership_changes_failed,omitempty"`
	EpochChanges      []commitMark      `json:"epoch_changes,omitempty"`
	TombstonesReaped  uint64            `json:"tombstones_reaped"`
	OneReads          int               `json:"one_reads"`
	OneReadsNotFound  int               `json:"one_reads_not_found"`
	OneReadsWrong     int               `json:"one_reads_wrong,omitempty"`
	OneReadErrors     int               `json:"one_read_errors,omitempty"`
	OneReadExamples   []string          `json:"one_read_examples,omitempty"`
	Keys              map[string]int    `json:"keys"`
	StaleReads        int               `json:"stale_quorum_reads"`
	HintsDrainedS     *float64          `json:"hints_drained_after_s"`
	HintsPending      map[string]uint64 `json:"hints_pending_holder_to_target,omitempty"` // when they did not drain in time
	RepairRounds      int               `json:"repair_rounds"`
	KeysRepaired      uint64            `json:"keys_repaired"`
	FinalReadFailures int               `json:"final_read_failures"`
	Replicas          offlineReport     `json:"replicas"`
	Examples          []string          `json:"examples,omitempty"`
	NemesisErrors     []string          `json:"nemesis_errors,omitempty"`
	TestBug           string            `json:"test_bug,omitempty"`
	WallS             float64           `json:"wall_s"`
	DataDir           string            `json:"data_dir,omitempty"`
	Schedule          []FaultRecord     `json:"schedule"`
	// Registers: the register workload's figures and porcupine's verdicts
	// (Config.Registers).
	Registers *RegisterReport `json:"registers,omitempty"`
	// Registry: the registry workload's outcome (Config.Registry).
	Registry *RegistryReport `json:"registry,omitempty"`
	OK       bool            `json:"ok"`
	Why      []string        `json:"why,omitempty"`
}

// FaultTag is the build tag of the server binary the harness runs: it keeps
// the fault-injection flags (--test-bug, --clock-offset) the product lacks.
const FaultTag = "faultinject"

// BuildBinary builds the quorumkv binary (with FaultTag) into dir.
func BuildBinary(dir string) (string, error) { return BuildBinaryTags(dir, "") }

// BuildBinaryTags builds the quorumkv binary with FaultTag and more build
// tags (e.g. the deliberately broken qkvbug_reapall) into dir.
func BuildBinaryTags(dir, tags string) (string, error) {
	name := "quorumkv"
	all := FaultTag
	if tags != "" {
		name += "-" + strings.ReplaceAll(tags, ",", "-")
		all += "," + tags
	}
	args := []string{"build", "-tags", all}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", append(args, "-o", bin, "github.com/quorumkv/quorumkv/cmd/quorumkv")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build quorumkv: %v\n%s", err, out)
	}
	return bin, nil
}

// Run builds the hosts, runs the workloads under the nemesis, heals, checks
// and tears everything down. The summary is returned even when the run
// failed its checks (OK false); err is for runs that could not be carried
// out.
func Run(ctx context.Context, cfg Config) (sum *Summary, err error) {
	cfg.setDefaults()
	logf := cfg.Logf
	t0 := time.Now()
	if cfg.Binary == "" {
		return nil, errors.New("nemesis: Config.Binary is required")
	}
	for _, k := range cfg.Faults {
		if !slices.Contains(AllFaults, k) {
			return nil, fmt.Errorf("nemesis: unknown fault kind %q (want one of %v or %s)", k, AllFaults, FaultMembership)
		}
	}
	if cfg.ConcurrentMembership && (!slices.ContainsFunc(cfg.Faults, isMembership) || !slices.ContainsFunc(cfg.Faults, func(k string) bool { return !isMembership(k) })) {
		return nil, fmt.Errorf("nemesis: ConcurrentMembership needs membership and other fault kinds, have %v", cfg.Faults)
	}
	if cfg.MaxUnknown < 0 || cfg.MaxUnknown > 1 {
		return nil, fmt.Errorf("nemesis: MaxUnknown %v is not a share between 0 and 1", cfg.MaxUnknown)
	}
	if cfg.RegisterKeys < 0 || cfg.RegisterOps < 0 || cfg.RegisterWorkers < 0 {
		return nil, errors.New("nemesis: RegisterKeys, RegisterOps and RegisterWorkers must not be negative")
	}
	if err := checkTools(); err != nil {
		return nil, err
	}
	cleanStale(logf)
	dir, err := os.MkdirTemp("", "qkvnem-")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if sum != nil && (cfg.KeepData == "always" || (cfg.KeepData == "failure" && (!sum.OK || err != nil))) {
			keep = true
			sum.DataDir = dir
		}
		if err != nil && cfg.KeepData != "never" {
			keep = true
			logf("data and server logs kept in %s", dir)
		}
		if !keep {
			_ = os.RemoveAll(dir)
		}
	}()
	slots := cfg.Nodes + cfg.Spares
	net, err := newNetwork(slots, cfg.SubnetFrom, logf)
	if err != nil {
		return nil, err
	}
	defer net.teardown()
	logf("network: bridge %s %s.0/24 (gateway %s), namespaces %s..%s", net.bridge, net.subnet, net.gateway(), net.ns(0), net.ns(slots-1))
	c, err := newCluster(net, cfg.Binary, dir, cfg.TestBug, cfg.serverFlags(), cfg.Partitions, cfg.Replicas, cfg.OpTimeout, cfg.Secure, logf)
	if err != nil {
		return nil, err
	}
	defer c.closeClients()
	defer c.killAll()
	for i := range cfg.Nodes {
		c.procs[i].setMember(true)
		if err := c.start(i, 0, true); err != nil {
			return nil, err
		}
	}
	if err := c.waitRing(ctx, 30*time.Second); err != nil {
		return nil, err
	}
	logf("cluster up: %d members %v of %d slots, server flags %v, data in %s", cfg.Nodes, c.memberIDs(), slots, c.extra, dir)

	sum = &Summary{Seed: cfg.Seed, Nodes: cfg.Nodes, Slots: slots, TestBug: cfg.TestBug}
	if cfg.ShortGrace {
		sum.Profile = "short-grace"
	}
	start := time.Now()
	watch := newEpochWatch(c, start)
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watch.poll(watchCtx, true) // the epoch the run starts at
	go watch.run(watchCtx)
	nem := newNemesis(ctx, c, cfg.Seed, cfg.Faults, cfg.Skews, cfg.Interval, cfg.HoldMin, cfg.HoldMax, start, logf)
	nem.targets, nem.memberPerCycle = cfg.Targets, cfg.MembershipPerCycle
	var changeKinds []string
	if cfg.ConcurrentMembership {
		changeKinds = slices.DeleteFunc(slices.Clone(cfg.Faults), func(k string) bool { return !isMembership(k) })
		nem.concurrent, nem.kinds = true, slices.DeleteFunc(slices.Clone(cfg.Faults), isMembership)
		nem.memberRng = rand.New(rand.NewPCG(cfg.Seed, 0x6d656d62))
		sum.ConcurrentMembership = true
	}
	m := newModel()
	nem.mem = &memberships{settle: cfg.SettleTimeout, minMembers: cfg.MinMembers, maxMembers: cfg.MaxMembers,
		watch: watch, m: m, partitions: cfg.Partitions, replicas: cfg.Replicas, timeout: cfg.OpTimeout, seed: cfg.Seed}
	wl := &workloads{c: c, nem: nem, m: m, seed: cfg.Seed, coords: cfg.Coordinators, timeout: cfg.OpTimeout,
		think: cfg.Think, maxKeys: cfg.MaxKeys, setKeys: cfg.SetKeys, setLimit: cfg.SetLimit, start: start, delGap: cfg.delGap(), delSteps: cfg.DeleteSteps}
	runCtx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	var wg sync.WaitGroup
	var panics []string
	var pmu sync.Mutex
	goSafe := func(name string, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if r := recover(); r != nil {
					pmu.Lock()
					panics = append(panics, fmt.Sprintf("%s: %v\n%s", name, r, debug.Stack()))
					pmu.Unlock()
					cancel()
				}
			}()
			fn()
		}()
	}
	goSafe("nemesis", func() { nem.run(runCtx, cfg.FirstFault) })
	if nem.concurrent {
		goSafe("membership", func() { nem.runMembership(runCtx, cfg.FirstFault+cfg.Interval/2, changeKinds) })
	}
	nc := len(cfg.Coordinators)
	for i := range cfg.UniqueWorkers * nc {
		goSafe("unique", func() { wl.unique(runCtx, i) })
	}
	for i := range cfg.SetWorkers * nc {
		goSafe("set", func() { wl.setAdd(runCtx, i) })
	}
	for i := range cfg.DeleteWorkers * nc {
		goSafe("delete", func() { wl.deletes(runCtx, i) })
	}
	for i := range cfg.RoutedWorkers {
		goSafe("unique", func() { wl.unique(runCtx, routedBase+i) })
		goSafe("set", func() { wl.setAdd(runCtx, routedBase+i) })
		goSafe("delete", func() { wl.deletes(runCtx, routedBase+i) })
	}
	var regs *registers
	if cfg.Registers {
		regs = newRegisters(cfg.RegisterKeys, cfg.RegisterOps, cfg.RegisterWorkers*nc+cfg.RoutedWorkers, cfg.Duration, cfg.Think, cfg.Seed, start)
		for _, key := range regs.keys {
			for i := range cfg.RegisterWorkers * nc {
				node := cfg.Coordinators[i%nc]
				goSafe("register", func() { regs.run(runCtx, key, i, c.procs[node].id, wl.regSender(node)) })
			}
			for i := range cfg.RoutedWorkers {
				goSafe("register", func() { regs.run(runCtx, key, routedBase+i, "routed", wl.regSender(-1)) })
			}
		}
	}
	var registry *registryWorkload
	var registryWG sync.WaitGroup
	registryCtx, stopRegistry := context.WithCancel(ctx)
	defer func() { stopRegistry(); registryWG.Wait() }()
	if cfg.Registry {
		// The registrants outlive the run: the live ones keep renewing
		// through the final check.
		registry = newRegistryWorkload(c.routed, 8, cfg.Duration, cfg.Seed)
		for _, in := range registry.insts {
			registryWG.Go(func() { registry.run(registryCtx, in, cfg.OpTimeout) })
		}
	}
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				wl.mu.Lock()
				n, failed := len(wl.ops), 0
				for _, o := range wl.ops {
					if o.class != "" {
						failed++
					}
				}
				wl.mu.Unlock()
				logf("t=%.0fs: %d ops, %d failed", time.Since(start).Seconds(), n, failed)
			}
		}
	}()
	wg.Wait()
	sum.DurationS = round1(time.Since(start).Seconds())
	if len(panics) > 0 {
		return sum, fmt.Errorf("nemesis: %v", panics)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // interrupted: no figures worth printing
	}

	// Final phase: heal everything, let hints and anti-entropy finish.
	healStart := time.Now()
	logf("final heal at t=%.1fs", time.Since(start).Seconds())
	if slices.ContainsFunc(cfg.Faults, isMembership) {
		_ = nem.resync(ctx) // after a change that did not settle
	}
	if err := c.healAll(); err != nil {
		sum.NemesisErrors = append(sum.NemesisErrors, err.Error())
		logf("%v", err)
	}
	var ringErr error
	if ringErr = c.waitRing(ctx, cfg.SettleTimeout); ringErr != nil {
		sum.NemesisErrors = append(sum.NemesisErrors, ringErr.Error())
		logf("%v", ringErr)
	}
	converged := false
	convDeadline := healStart.Add(cfg.ConvergeTimeout)
	// Hints get half the convergence budget; then repair runs anyway (it
	// alone decides convergence: pending hints only carry what repair
	// copies too).
	hintDeadline := healStart.Add(cfg.ConvergeTimeout / 2)
	for ctx.Err() == nil {
		holders, pending, err := c.hints(ctx)
		if err == nil && pending == 0 {
			s := round1(time.Since(healStart).Seconds())
			sum.HintsDrainedS = &s
			logf("hints drained %.1fs after the final heal", s)
			break
		}
		if time.Now().After(hintDeadline) {
			sum.HintsPending = map[string]uint64{}
			for h, ts := range holders {
				for t, n := range ts {
					if n > 0 {
						sum.HintsPending[h+"->"+t] = n
					}
				}
			}
			logf("hints still pending %.0fs after the heal (%v %v); repairing anyway", time.Since(healStart).Seconds(), sum.HintsPending, errOrEmpty(err))
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for ctx.Err() == nil {
		rctx, rcancel := context.WithTimeout(ctx, max(time.Until(convDeadline), 5*time.Second))
		repaired, errs, truncated, err := c.repairRound(rctx)
		rcancel()
		sum.RepairRounds++
		sum.KeysRepaired += repaired
		logf("repair round %d: %d keys repaired, %d errors, truncated %v %v", sum.RepairRounds, repaired, errs, truncated, errOrEmpty(err))
		if repaired == 0 && errs == 0 && !truncated && err == nil {
			s := round1(time.Since(healStart).Seconds())
			if time.Now().Before(convDeadline) {
				converged = true
				sum.ConvergedAfterS = &s
			}
			logf("replicas agree %.1fs after the final heal", s)
			break
		}
		if time.Now().After(convDeadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	if registry != nil {
		sum.Registry = registry.check(ctx, registryGone+20*time.Second)
		logf("registry: %d instances, %d died, %d registered again, missing %v, back %v", sum.Registry.Instances,
			sum.Registry.Died, sum.Registry.Reregistered, sum.Registry.Missing, sum.Registry.Back)
		stopRegistry()
		registryWG.Wait()
	}

	finalRegReads := 0
	if regs != nil {
		finalRegReads = regs.finalReads(ctx, clientExec(c.routed), cfg.OpTimeout, 5)
		logf("registers: %d of %d keys read after the final heal", finalRegReads, len(regs.keys))
	}

	keys := m.keys()
	logf("reading %d keys at ALL", len(keys))
	all, failed, err := readAll(ctx, c, m, keys, cfg.OpTimeout)
	if err != nil {
		return sum, err
	}
	sum.FinalReadFailures = len(failed)
	for i, f := range failed {
		if i < 5 {
			sum.Examples = append(sum.Examples, "final read failed: "+f)
		}
	}
	stopWatch()
	sum.TombstonesReaped = watch.reaped()
	// The final placement is the ring's: what most nodes list (the harness's
	// own member set when none answers).
	final := c.memberSlots()
	sum.MembersFinal = c.memberIDs()
	if listed, _, err := c.ringMembers(ctx); err != nil {
		sum.NemesisErrors = append(sum.NemesisErrors, "final ring members: "+err.Error())
	} else if !slices.Equal(listed, sum.MembersFinal) {
		sum.Why = append(sum.Why, fmt.Sprintf("the ring lists %v at the end, the harness expected %v", listed, sum.MembersFinal))
		sum.MembersFinal, final = listed, nil
		for i, p := range c.procs {
			if slices.Contains(listed, p.id) {
				final = append(final, i)
			}
		}
	}
	logf("stopping the servers to read every replica's own copy")
	if err := c.stopAll(15 * time.Second); err != nil {
		sum.NemesisErrors = append(sum.NemesisErrors, err.Error())
	}
	off, err := checkOffline(c, m, keys, cfg.Partitions, cfg.Replicas, final)
	if err != nil {
		return sum, err
	}
	sum.Replicas = off
	if regs != nil {
		sum.Registers = checkRegisters(regs.records(), regs.keys, finalRegReads, cfg, dir, logf)
	}

	// Figures.
	sum.Lost, sum.Unexpected, sum.Resurrected, sum.Duplicated = all.Lost, all.Unexpected, all.Resurrected, all.Duplicated
	m.mu.Lock()
	sum.Unexpected += m.unexpectedInRun
	sum.Resurrected += m.resurrectedInRun
	for i, e := range m.inRunUnexpected {
		if i < 5 {
			sum.Examples = append(sum.Examples, "during the run: "+e)
		}
	}
	sum.StaleReads = m.staleReads
	sum.Keys = map[string]int{"unique": len(m.unique), "set": len(m.sets), "delete": len(m.dels)}
	m.mu.Unlock()
	sum.Examples = append(sum.Examples, all.Examples...)
	for _, r := range off.Replicas {
		for i, e := range r.Verdict.Examples {
			if i < 3 {
				sum.Examples = append(sum.Examples, e)
			}
		}
	}
	sum.Acknowledged = m.acknowledged()
	marks := watch.marks()
	sum.EpochChanges = marks
	var windows []window
	for _, mk := range marks {
		windows = append(windows, window{from: mk.From - cfg.CommitBefore, to: mk.To + cfg.CommitAfter})
	}
	// The register requests are reported on their own (registers.
	// availability) and judged by their own checks (linearizability, the
	// unknown share); the run's availability and user judgements are the
	// key-value workloads'.
	var kvOps []opRecord
	for _, o := range wl.ops {
		if o.workload != "register" {
			kvOps = append(kvOps, o)
		}
	}
	sum.Ops, sum.FailuresByKind, sum.Availability = opFigures(kvOps, cfg.OpTimeout, c.ids(), windows)
	if sum.Registers != nil {
		var regOps []opRecord
		for _, o := range wl.ops {
			if o.workload == "register" {
				regOps = append(regOps, o)
			}
		}
		_, _, av := opFigures(regOps, cfg.OpTimeout, c.ids(), windows)
		sum.Registers.Availability = &av
	}
	sum.Availability.CommitExclusion.Rule = fmt.Sprintf("requests of single-node faults whose [start, end] overlaps [c-%v, c+%v] of an epoch change c are left out of the availability figures (c spans the %v poll of every node's ring epoch that first saw the change)",
		cfg.CommitBefore, cfg.CommitAfter, watch.every)
	mem := nem.mem
	mem.mu.Lock()
	sum.MembershipChanges, sum.MembershipFailed = mem.settled, mem.failed
	sum.OneReads, sum.OneReadsNotFound, sum.OneReadsWrong, sum.OneReadErrors = mem.oneReads, mem.oneNotFound, mem.oneWrong, mem.oneErrors
	sum.OneReadExamples = slices.Clone(mem.oneExamples)
	mem.mu.Unlock()
	nem.mu.Lock()
	sum.Schedule = slices.Clone(nem.records)
	sum.NemesisErrors = append(sum.NemesisErrors, nem.errs...)
	nem.mu.Unlock()
	sum.Faults = len(sum.Schedule)
	sum.FaultsByKind = map[string]int{}
	for _, r := range sum.Schedule {
		sum.FaultsByKind[r.Kind]++
	}
	if !off.agree() {
		converged = false
		sum.ConvergedAfterS = nil
	}
	why := func(cond bool, format string, args ...any) {
		if cond {
			sum.Why = append(sum.Why, fmt.Sprintf(format, args...))
		}
	}
	why(sum.Lost > 0, "%d acknowledged writes lost", sum.Lost)
	why(sum.Unexpected > 0, "%d unexpected values (%d of them a value held twice: one write applied twice)", sum.Unexpected, sum.Duplicated)
	why(sum.Resurrected > 0, "%d deleted keys resurrected", sum.Resurrected)
	why(!converged, "replicas did not converge within %v of the final heal (repair rounds %d; stopped replicas: %d keys differ, %d partitions' Merkle roots differ)",
		cfg.ConvergeTimeout, sum.RepairRounds, off.DivergentKeys, off.RootMismatches)
	why(sum.FinalReadFailures > 0, "%d keys could not be read at ALL", sum.FinalReadFailures)
	why(sum.OneReadsNotFound > 0, "%d reads at ONE through a member, after its ring change had settled, answered not found for a key acknowledged before the change", sum.OneReadsNotFound)
	why(sum.OneReadsWrong > 0, "%d reads at ONE after a ring change returned a value never written", sum.OneReadsWrong)
	why(sum.MembershipFailed > 0, "%d membership changes did not settle within %v", sum.MembershipFailed, cfg.SettleTimeout)
	why(slices.ContainsFunc(cfg.Faults, isMembership) && ringErr != nil, "the ring did not settle after the final heal: %v", ringErr)
	why(sum.Faults < cfg.MinFaults, "only %d faults ran (want >= %d)", sum.Faults, cfg.MinFaults)
	why(sum.MembershipChanges < cfg.MinMembershipChanges, "only %d membership changes settled (want >= %d)", sum.MembershipChanges, cfg.MinMembershipChanges)
	for _, r := range off.Replicas {
		why(r.Error != "", "replica %s could not be read: %s", r.Node, r.Error)
		why(r.Verdict.bad(), "replica %s's own copy: %d lost, %d unexpected, %d resurrected", r.Node, r.Verdict.Lost, r.Verdict.Unexpected, r.Verdict.Resurrected)
	}
	if cfg.RequireAvailability {
		av := sum.Availability
		why(!av.MajorityOK99, "only %.2f%% of majority-side requests succeeded during single-node faults (want >= 99%%): %v", 100*av.MajorityRatio, av.MajorityFailures)
		why(!av.IsolatedFailFast, "requests to an isolated node hung until their deadline")
	}
	if cfg.JudgeUsers {
		for _, kind := range UserFaults {
			u := sum.Availability.Users[kind]
			if u == nil {
				continue
			}
			why(!u.met(), "during %s faults %.2f%% of the ring-aware client's %d requests succeeded (want >= %.0f%%), p99 %d ms (want <= %d ms); failures %v, stalls %v",
				kind, 100*u.Ratio, u.Ops, 100*UserOKRatio, u.P99Ms, UserP99.Milliseconds(), u.Failures, u.Stalls)
		}
	}
	if sum.Registers != nil {
		sum.Why = append(sum.Why, sum.Registers.why()...)
	}
	if sum.Registry != nil {
		sum.Why = append(sum.Why, sum.Registry.why()...)
	}
	sum.OK = len(sum.Why) == 0
	if err := writeOps(filepath.Join(dir, "ops.jsonl"), wl.ops, c); err != nil {
		logf("ops log: %v", err)
	}
	sum.WallS = round1(time.Since(t0).Seconds())
	return sum, nil
}

// writeOps dumps every request (one JSON object a line) next to the server
// logs, for the analysis of a failed run.
func writeOps(path string, ops []opRecord, c *cluster) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, o := range ops {
		var fault string
		var nodes []string
		if o.fault != nil {
			fault = o.fault.kind
			for _, n := range o.fault.nodes {
				nodes = append(nodes, c.procs[n].id)
			}
		}
		_ = enc.Encode(map[string]any{
			"at_ms": o.at.Milliseconds(), "lat_ms": o.lat.Milliseconds(), "workload": o.workload, "op": o.op,
			"key": o.key, "node": nodeName(c.ids(), o.node), "coordinator": o.coordinator, "fail": o.class, "fault": fault, "fault_nodes": nodes,
			"single": o.fault != nil && o.fault.single, "healed_during": o.healedDuring, "err": o.errText,
		})
	}
	return errors.Join(w.Flush(), f.Close())
}

// nodeName names the node a request went to ("routed": the routing client
// chose).
func nodeName(ids []string, n int) string {
	if n < 0 {
		return "routed"
	}
	return ids[n]
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }

// window is a stretch of the run (since the workloads started).
type window struct{ from, to time.Duration }

// opFigures counts the requests, their failures by kind, and availability
// during single-node faults, leaving out requests that overlap one of
// commits (CommitExclusion).
func opFigures(ops []opRecord, deadline time.Duration, ids []string, commits []window) (int, map[string]int, Availability) {
	fails := map[string]int{}
	av := Availability{ByFault: map[string]*SideStats{}, Users: map[string]*UserStats{}, Quiet: QuietStats{ByNode: map[string]int{}}}
	av.CommitExclusion.EpochChanges = len(commits)
	overlaps := func(o opRecord) bool {
		for _, w := range commits {
			if o.at <= w.to && o.at+o.lat >= w.from {
				return true
			}
		}
		return false
	}
	for _, o := range ops {
		if o.class != "" {
			fails[o.class]++
		}
		f := o.fault
		if f != nil && f.kind == "" && !o.healedDuring {
			av.Quiet.Ops++
			if o.class != "" {
				av.Quiet.Failed++
				av.Quiet.ByNode[nodeName(ids, o.node)+" "+o.class]++
			}
		}
		if f != nil && f.single && o.node < 0 && slices.Contains(UserFaults, f.kind) && !overlaps(o) {
			u := av.Users[f.kind]
			if u == nil {
				u = &UserStats{}
				av.Users[f.kind] = u
			}
			var faulted []string
			for _, x := range f.nodes {
				faulted = append(faulted, ids[x])
			}
			u.add(o, faulted)
		}
		if f == nil || !f.single || o.healedDuring {
			continue
		}
		if overlaps(o) {
			ex := &av.CommitExclusion
			ex.Ops++
			if o.node >= 0 && !slices.Contains(f.nodes, o.node) {
				ex.MajorityOps++
				if o.class != "" {
					ex.MajorityFailed++
				}
			}
			continue
		}
		if o.node < 0 {
			av.Routed.Ops++
			if o.class == "" {
				av.Routed.OK++
			}
			continue
		}
		bf := av.ByFault[f.kind]
		if bf == nil {
			bf = &SideStats{}
			av.ByFault[f.kind] = bf
		}
		isolated := slices.Contains(f.nodes, o.node)
		for _, s := range []*SideStats{&av.SideStats, bf} {
			if !isolated {
				s.MajorityOps++
				if o.class == "" {
					s.MajorityOK++
				} else {
					if s.MajorityFailures == nil {
						s.MajorityFailures = map[string]int{}
					}
					s.MajorityFailures[ids[o.node]+" "+o.class]++
				}
				s.majorityLatens = append(s.majorityLatens, o.lat)
				continue
			}
			s.IsolatedOps++
			s.IsolatedMaxMs = max(s.IsolatedMaxMs, o.lat.Milliseconds())
			switch {
			case o.class == "":
				s.IsolatedOK++
			case o.class == "timeout" || o.lat >= deadline:
				s.IsolatedHung++
			default:
				s.IsolatedFast++
			}
		}
	}
	for _, s := range append([]*SideStats{&av.SideStats}, mapValues(av.ByFault)...) {
		if s.MajorityOps > 0 {
			s.MajorityRatio = float64(int64(float64(s.MajorityOK)/float64(s.MajorityOps)*10000)) / 10000
		}
		if n := len(s.majorityLatens); n > 0 {
			sort.Slice(s.majorityLatens, func(i, j int) bool { return s.majorityLatens[i] < s.majorityLatens[j] })
			s.MajorityP99Ms = s.majorityLatens[min(n-1, n*99/100)].Milliseconds()
		}
	}
	av.UsersOK = true
	for _, u := range av.Users {
		u.finish()
		av.UsersOK = av.UsersOK && u.met()
	}
	if av.Routed.Ops > 0 {
		av.Routed.Ratio = float64(int64(float64(av.Routed.OK)/float64(av.Routed.Ops)*10000)) / 10000
	}
	av.MajorityOK99 = av.MajorityOps == 0 || av.MajorityRatio >= 0.99
	av.IsolatedFailFast = av.ByFault[FaultIsolate] == nil || av.ByFault[FaultIsolate].IsolatedHung == 0
	return len(ops), fails, av
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
