package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/quorumkv/quorumkv/client"
)

// scrape reads a node's /metrics.
func scrape(t *testing.T, p *proc) map[string]*dto.MetricFamily {
	t.Helper()
	body, code := httpGet(t, "http://"+p.http+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("%s /metrics: %d %s", p.id, code, body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s /metrics does not parse: %v", p.id, err)
	}
	return fams
}

func httpGet(t *testing.T, url string) (string, int) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(b), resp.StatusCode
}

// sample finds the metric of fam whose labels are labels.
func sample(fams map[string]*dto.MetricFamily, fam string, labels map[string]string) *dto.Metric {
	f := fams[fam]
	if f == nil {
		return nil
	}
	for _, m := range f.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if labels[lp.GetName()] == lp.GetValue() {
				match++
			}
		}
		if match == len(labels) {
			return m
		}
	}
	return nil
}

// TestProcessMetrics: 100 puts through n1 raise n1's put counter by 100
// and add 100 samples to its latency histogram; a read at ALL with a
// replica down counts a quorum failure with its figures; every metric name
// passes Prometheus's lint; /livez and /readyz answer 200.
func TestProcessMetrics(t *testing.T) {
	pc := startProcCluster(t, 3)
	n1 := pc.procs[0]
	for _, path := range []string{"/livez", "/readyz"} {
		if body, code := httpGet(t, "http://"+n1.http+path); code != http.StatusOK {
			t.Fatalf("%s: %d %s", path, code, body)
		}
	}
	labels := map[string]string{"op": "put", "level": "quorum", "outcome": "ok"}
	count := func(fams map[string]*dto.MetricFamily) (float64, uint64) {
		var c float64
		if m := sample(fams, "quorumkv_requests_total", labels); m != nil {
			c = m.GetCounter().GetValue()
		}
		var h uint64
		if m := sample(fams, "quorumkv_request_duration_seconds", map[string]string{"op": "put", "level": "quorum"}); m != nil {
			h = m.GetHistogram().GetSampleCount()
		}
		return c, h
	}
	c0, h0 := count(scrape(t, n1))
	kv, err := client.New([]string{n1.listen}, client.WithoutRouting())
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 100 {
		if _, err := kv.Put(ctx, []byte(fmt.Sprintf("m-%d", i)), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	c1, h1 := count(scrape(t, n1))
	if c1-c0 != 100 || h1-h0 != 100 {
		t.Fatalf("after 100 puts: quorumkv_requests_total{op=put,level=quorum,outcome=ok} %v -> %v, histogram samples %d -> %d", c0, c1, h0, h1)
	}
	fams := scrape(t, n1)
	if m := sample(fams, "quorumkv_ring_members_up", nil); m.GetGauge().GetValue() != 3 {
		t.Errorf("quorumkv_ring_members_up %v, want 3", m)
	}
	for _, name := range []string{"quorumkv_antientropy_exchanges_total", "quorumkv_disk_full", "quorumkv_ring_epoch", "quorumkv_leases_held",
		"quorumkv_read_repairs_total", "quorumkv_storage_compactions_total", "quorumkv_storage_l0_files", "quorumkv_storage_write_stalls_total",
		"quorumkv_storage_block_cache_hits_total", "quorumkv_storage_block_cache_misses_total", "go_goroutines", "process_cpu_seconds_total"} {
		if fams[name] == nil {
			t.Errorf("no %s in /metrics", name)
		}
	}
	// Every put was fsynced (group commit shares fsyncs, so fewer than 100).
	if m := sample(fams, "quorumkv_storage_wal_fsync_duration_seconds", nil); m.GetHistogram().GetSampleCount() == 0 {
		t.Errorf("quorumkv_storage_wal_fsync_duration_seconds: no fsync after 100 puts: %v", m)
	}
	// A read at ALL with one replica down fails its quorum: 3 required, 2
	// answered.
	pc.kill(2)
	if _, err := kv.Get(ctx, []byte("m-1"), client.WithLevel(client.All)); err == nil {
		t.Fatal("a read at ALL with a replica down succeeded")
	}
	failed := sample(scrape(t, n1), "quorumkv_quorum_failures_total", map[string]string{"op": "read", "required": "3", "acknowledged": "2"})
	if failed.GetCounter().GetValue() != 1 {
		t.Errorf("quorumkv_quorum_failures_total{op=read,required=3,acknowledged=2} = %v, want 1", failed)
	}
	// A write n3 misses is hinted for it, and delivered once it is back.
	if _, err := kv.Put(ctx, []byte("m-hinted"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	pc.start(2)
	waitFor(t, 30*time.Second, func() error {
		if m := sample(scrape(t, n1), "quorumkv_hints_delivered_total", map[string]string{"target": "n3"}); m.GetCounter().GetValue() < 1 {
			return fmt.Errorf("quorumkv_hints_delivered_total{target=n3} = %v", m)
		}
		return nil
	})
	body, _ := httpGet(t, "http://"+n1.http+"/metrics")
	problems, err := promlint.New(strings.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "quorumkv_") {
			t.Errorf("lint: %s: %s", p.Metric, p.Text)
		}
	}
}

// TestProcessReadyz: a node that joined but waits to be committed
// (--auto-join=false) is alive and not ready, saying why; once committed
// it is ready.
func TestProcessReadyz(t *testing.T) {
	pc := startProcCluster(t, 3)
	i := pc.add("--auto-join=false")
	n4 := pc.procs[i]
	if body, code := httpGet(t, "http://"+n4.http+"/livez"); code != http.StatusOK {
		t.Fatalf("/livez on a joining node: %d %s", code, body)
	}
	body, code := httpGet(t, "http://"+n4.http+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "not a valid member") {
		t.Fatalf("/readyz on a joining node: %d %q, want 503 saying it is not a valid member", code, body)
	}
	if out, code := pc.cli("ring", "commit", "--endpoints", pc.procs[0].listen); code != 0 {
		t.Fatalf("ring commit: exit %d: %s", code, out)
	}
	waitFor(t, 60*time.Second, func() error {
		body, code := httpGet(t, "http://"+n4.http+"/readyz")
		if code != http.StatusOK {
			return fmt.Errorf("/readyz %d %q", code, body)
		}
		return nil
	})
}
