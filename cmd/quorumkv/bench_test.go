package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/node/nodetest"
)

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--workload", "e"},
		{"bench", "--distribution", "pareto"},
		{"bench", "--value-size", "10-5"},
		{"bench", "--driver", "cassandra"},
		{"bench", "--consistency", "most"},
		{"bench", "--clients", "0"},
		{"bench", "--conns", "0"},
		{"bench", "--plot", "out.svg"},
		{"bench", "-o", "yaml"},
		{"bench", "--driver", "redis", "--workload", "cas"},
		{"bench", "--driver", "redis", "--workload", "lock"},
		{"bench", "--workload", "lock", "--lock-ttl", "0s"},
		{"bench", "--workload", "hot-incr", "--starvation-limit", "0s"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr.String())
		}
	}
}

func TestBenchUnreachableStore(t *testing.T) {
	ports := freePorts(t, 1)
	var stdout, stderr bytes.Buffer
	code := run([]string{"bench", "--endpoints", fmt.Sprintf("127.0.0.1:%d", ports[0]), "--duration", "1s", "--timeout", "500ms"}, &stdout, &stderr)
	if code == exitOK || !strings.Contains(stderr.String(), "cannot reach quorumkv") {
		t.Errorf("exit %d, stderr %q; want a failure naming the store", code, stderr.String())
	}
}

// TestBenchAgainstCluster runs the command as a user would, against an
// in-process cluster: a load, then workload f with JSON output and a plot.
func TestBenchAgainstCluster(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	var eps []string
	for _, id := range c.IDs() {
		eps = append(eps, c.Node(id).Addr())
	}
	endpoints := strings.Join(eps, ",")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"bench", "--endpoints", endpoints, "--workload", "load", "--records", "300", "--clients", "4"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("load: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"settings", "driver        quorumkv", "workload      load (insert 100%)", "insert", "p99.9 ms"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("load output lacks %q:\n%s", want, stdout.String())
		}
	}

	dir := t.TempDir()
	stdout.Reset()
	stderr.Reset()
	args := []string{"bench", "--endpoints", endpoints, "--workload", "f", "--records", "300", "--clients", "4",
		"--duration", "1s", "--interval", "250ms", "--w", "2", "--r", "2", "-o", "json",
		"--plot", filepath.Join(dir, "f.png"), "--hdr-dir", filepath.Join(dir, "hdr")}
	if code := run(args, &stdout, &stderr); code != exitOK {
		t.Fatalf("workload f: exit %d: %s", code, stderr.String())
	}
	var rep struct {
		Settings struct {
			Driver        string         `json:"driver"`
			Workload      string         `json:"workload"`
			DriverOptions map[string]any `json:"driver_options"`
		} `json:"settings"`
		Results map[string]struct {
			Count  int64            `json:"count"`
			Errors map[string]int64 `json:"errors"`
		} `json:"results"`
		Intervals []json.RawMessage `json:"intervals"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON document: %v\n%s", err, stdout.String())
	}
	if rep.Settings.Driver != "quorumkv" || rep.Settings.Workload != "f" || rep.Settings.DriverOptions["w"] != 2.0 {
		t.Errorf("settings %+v", rep.Settings)
	}
	for _, op := range []string{"read", "rmw"} {
		r := rep.Results[op]
		if r.Count == 0 {
			t.Errorf("no %s operations", op)
		}
		for class, n := range r.Errors {
			if n != 0 {
				t.Errorf("%s: %d %s errors", op, n, class)
			}
		}
	}
	if len(rep.Intervals) < 3 {
		t.Errorf("%d intervals, want 4", len(rep.Intervals))
	}
	if !strings.Contains(stderr.String(), "ops/s") {
		t.Errorf("no progress lines on stderr: %q", stderr.String())
	}
	for _, f := range []string{"f.png", "hdr/read.hlog", "hdr/rmw.hlog"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
