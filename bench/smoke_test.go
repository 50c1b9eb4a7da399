package bench

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestSmokeQuorumkv runs workload a for two seconds with four clients against
// a real three-node cluster.
func TestSmokeQuorumkv(t *testing.T) {
	eps := startCluster(t)
	contexts := NewContextCache(0)
	var drivers []Driver
	for range 2 {
		d, err := NewQuorumkv(QuorumkvOptions{Endpoints: eps, Level: client.Quorum, Contexts: contexts})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		drivers = append(drivers, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	load := Config{Workload: Workloads["load"], Records: 200, KeyPrefix: "smoke/", ValueSize: ValueSize{50, 150},
		Seed: 1, Clients: 4}
	rep, err := Run(ctx, load, drivers)
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Results["insert"]; got.Count != 200 || got.ErrorTotal() != 0 {
		t.Fatalf("load: %d inserts, errors %v (%v)", got.Count, got.Errors, got.ErrorSamples)
	}

	var intervals int
	cfg := Config{Workload: Workloads["a"], Records: 200, KeyPrefix: "smoke/", ValueSize: ValueSize{100, 100},
		Seed: 1, Clients: 4, Duration: 2 * time.Second, Interval: 500 * time.Millisecond,
		OnInterval: func(Interval) { intervals++ }, HDRDir: t.TempDir()}
	rep, err = Run(ctx, cfg, drivers)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("workload a: %d ops, %.0f ops/s, p50 %.2f ms, p99 %.2f ms",
		rep.Total.Count, rep.Total.OpsPerSec, rep.Total.LatencyMs.P50, rep.Total.LatencyMs.P99)
	for _, op := range []string{"read", "update"} {
		r := rep.Results[op]
		if r.Count == 0 {
			t.Errorf("no %s completed", op)
		}
		if r.ErrorTotal() != 0 {
			t.Errorf("%s errors %v: %v", op, r.Errors, r.ErrorSamples)
		}
		if r.NotFound != 0 {
			t.Errorf("%d reads of loaded keys found nothing", r.NotFound)
		}
	}
	if intervals < 3 {
		t.Errorf("%d progress intervals in 2s at 500ms, want 4", intervals)
	}
	if rep.Interrupted || rep.ElapsedS < 2 || rep.ElapsedS > 3 {
		t.Errorf("elapsed %.2fs interrupted %v", rep.ElapsedS, rep.Interrupted)
	}
}

// BenchmarkClusterWrite runs the write workload (W=2, 32 clients) against an
// in-process three-node cluster, servers and clients in one process, so a
// CPU profile shows the whole path:
//
//	go test -run '^$' -bench ClusterWrite -benchtime 20000x -cpuprofile cpu.out ./bench
func BenchmarkClusterWrite(b *testing.B) {
	cfg := Config{Workload: Workloads["write"], Records: 1_000_000, KeyPrefix: "bench/", ValueSize: ValueSize{100, 100},
		Seed: 1, Clients: 32, Ops: int64(b.N)}
	rep := benchCluster(b, nodetest.Options{Partitions: 1024}, QuorumkvOptions{W: 2, Contexts: NewContextCache(0)}, cfg)
	if n := rep.Total.ErrorTotal(); n > 0 {
		b.Errorf("%d errors: %v", n, rep.Results["update"].ErrorSamples)
	}
	b.ReportMetric(rep.Total.OpsPerSec, "ops/s")
	b.ReportMetric(rep.Total.LatencyMs.P99, "p99-ms")
}

// BenchmarkClusterCAS runs the cas workload (a read of each key's version
// on first sight, then compare-and-set by version; 32 clients) against an
// in-process three-node cluster, so a CPU profile shows the register path:
//
//	go test -run '^$' -bench ClusterCAS -benchtime 20000x -cpuprofile cpu.out ./bench
func BenchmarkClusterCAS(b *testing.B) {
	cfg := Config{Workload: Workloads["cas"], Records: Workloads["cas"].Records, KeyPrefix: "bench-cas/",
		ValueSize: ValueSize{100, 100}, Seed: 1, Clients: 32, Ops: int64(b.N)}
	rep := benchCluster(b, nodetest.Options{}, QuorumkvOptions{}, cfg)
	if n := rep.Total.ErrorTotal(); n > 0 {
		b.Errorf("%d errors", n)
	}
	b.ReportMetric(rep.Results["cas"].OpsPerSec, "cas/s")
}

// benchCluster starts an in-process three-node cluster and runs cfg
// against it through one quorumkv driver (opts with the cluster's
// endpoints), timing only the run.
func benchCluster(b *testing.B, cluster nodetest.Options, opts QuorumkvOptions, cfg Config) *Report {
	b.Helper()
	c := nodetest.Start(b, 3, cluster)
	for _, id := range c.IDs() {
		opts.Endpoints = append(opts.Endpoints, c.Node(id).Addr())
	}
	d, err := NewQuorumkv(opts)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	b.ResetTimer()
	rep, err := Run(context.Background(), cfg, []Driver{d})
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	return rep
}

// startCluster starts a three-node in-process cluster (skipped with
// -short) and returns its endpoints.
func startCluster(t *testing.T) []string {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := nodetest.Start(t, 3, nodetest.Options{})
	var eps []string
	for _, id := range c.IDs() {
		eps = append(eps, c.Node(id).Addr())
	}
	return eps
}

// TestSmokeRegistersAndLocks runs the cas, hot-incr and lock workloads for
// a second and a half each, with four clients, against a real three-node
// cluster, and checks the hot key counts every increment. It skips while
// the cluster or the client has no register service (Unimplemented).
func TestSmokeRegistersAndLocks(t *testing.T) {
	eps := startCluster(t)
	d, err := NewQuorumkv(QuorumkvOptions{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var se *client.ServerError
	if _, err := d.(RegisterDriver).ReadVersion(ctx, []byte("smoke-serial/preflight")); errors.As(err, &se) && se.Code == codes.Unimplemented {
		t.Skipf("no register service in this build: %v", err)
	}

	run := func(wl string) *Report {
		t.Helper()
		cfg := Config{Workload: Workloads[wl], Records: Workloads[wl].Records, KeyPrefix: "smoke-" + wl + "/",
			ValueSize: ValueSize{100, 100}, Seed: 1, Clients: 4, Duration: 1500 * time.Millisecond}
		if wl == "cas" {
			cfg.Records = 50 // small enough that clients meet each other's writes
		}
		rep, err := Run(ctx, cfg, []Driver{d})
		if err != nil {
			t.Fatal(err)
		}
		for op, r := range rep.Results {
			t.Logf("%s %s: %d ops, %.0f ops/s, p50 %.2f ms, p99 %.2f ms, conflicts %d, receipts %+v",
				wl, op, r.Count, r.OpsPerSec, r.LatencyMs.P50, r.LatencyMs.P99, r.Conflicts, r.Receipts)
			if r.ErrorTotal() != 0 {
				t.Errorf("%s %s errors %v: %v", wl, op, r.Errors, r.ErrorSamples)
			}
		}
		t.Logf("%s: longest client wait %.1f ms", wl, rep.Starvation.WorstGapMs)
		return rep
	}

	cas := run("cas").Results["cas"]
	if cas.Count == 0 || cas.Receipts == nil || cas.Receipts.RoundsPerOp < 1 {
		t.Errorf("cas: %d operations, receipts %+v", cas.Count, cas.Receipts)
	}

	incr := run("hot-incr").Results["incr"]
	if incr.Count == 0 || incr.Receipts == nil {
		t.Errorf("incr: %d operations, receipts %+v", incr.Count, incr.Receipts)
	}
	res, err := d.(*quorumkvDriver).c.SerialGet(ctx, keyName("smoke-hot-incr/", 0))
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.FormatInt(incr.Count, 10); string(res.Value) != want {
		t.Errorf("hot key holds %q after %s increments", res.Value, want)
	}

	if lock := run("lock").Results["lock"]; lock.Count == 0 {
		t.Error("no lock acquired and released")
	}
}

// TestSmokeKeepAlive grants 200 leases and renews them for a second and a
// half with four clients against a real three-node cluster.
func TestSmokeKeepAlive(t *testing.T) {
	eps := startCluster(t)
	d, err := NewQuorumkv(QuorumkvOptions{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := Config{Workload: Workloads["keepalive"], Records: 200, Seed: 1, Clients: 4,
		Duration: 1500 * time.Millisecond, LockTTL: 10 * time.Second, ValueSize: ValueSize{100, 100}}
	rep, err := Run(ctx, cfg, []Driver{d})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results["keepalive"]
	t.Logf("keepalive: %d ops, %.0f ops/s, p50 %.2f ms, p99 %.2f ms", r.Count, r.OpsPerSec, r.LatencyMs.P50, r.LatencyMs.P99)
	if r.Count == 0 || r.ErrorTotal() != 0 {
		t.Fatalf("keepalive: %d renewals, errors %v: %v", r.Count, r.Errors, r.ErrorSamples)
	}
}

// TestSmokeWatch runs the watch benchmark with 10 watchers and 50 puts
// against a real three-node cluster: every event arrives.
func TestSmokeWatch(t *testing.T) {
	eps := startCluster(t)
	d, err := NewQuorumkv(QuorumkvOptions{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rep, err := RunWatch(ctx, WatchConfig{Watchers: 10, Rate: 50, Duration: time.Second, Group: "smoke"}, d.(WatchDriver))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep)
	if rep.Puts != 50 || rep.Missing != 0 || rep.Events != 500 {
		t.Fatalf("watch: %+v", rep)
	}
}
