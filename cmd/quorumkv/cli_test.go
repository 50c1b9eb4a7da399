package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEnvironmentFlags: every flag reads QUORUMKV_<FLAG>; the command line wins.
func TestEnvironmentFlags(t *testing.T) {
	t.Setenv("QUORUMKV_ENDPOINTS", "127.0.0.1:1")
	t.Setenv("QUORUMKV_TIMEOUT", "300ms")
	var out, errOut bytes.Buffer
	code := run([]string{"get", "k"}, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "127.0.0.1:1") {
		t.Fatalf("get with QUORUMKV_ENDPOINTS: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	code = run([]string{"get", "k", "--endpoints", "127.0.0.1:2"}, &out, &errOut)
	if code != exitError || !strings.Contains(errOut.String(), "127.0.0.1:2") {
		t.Fatalf("--endpoints over the environment: exit %d, %q", code, errOut.String())
	}
	t.Setenv("QUORUMKV_CONSISTENCY", "most")
	errOut.Reset()
	if code := run([]string{"get", "k"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), `unknown consistency level "most"`) {
		t.Fatalf("bad QUORUMKV_CONSISTENCY: exit %d, %q", code, errOut.String())
	}
}

// TestUsageErrors: usage mistakes exit 2 with an Error: line on stderr.
func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"get"},
		{"put", "k"},
		{"get", "k", "--no-such-flag"},
		{"get", "k", "-o", "yaml"},
		{"get", "k", "--r", "-1"},
		{"put", "k", "v", "--blind", "--context", "x"},
		{"ring", "leave"},
		{"server", "--data", "/tmp/x"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--cache-size", "1000"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--key-filter-size", "1000"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--fsync-window", "2s"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--min-free-space", "0"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--disk-check-interval", "0s"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage || !strings.HasPrefix(errOut.String(), "Error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}
