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
		{"serial", "get"},
		{"serial", "put", "k"},
		{"serial", "put", "k", "v", "--expect-version", "1", "--expect-absent"},
		{"serial", "put", "k", "v", "--expect-version", "-1"},
		{"serial", "put", "k", "v", "--fence", "L"},
		{"serial", "put", "k", "v", "--fence", ":3"},
		{"serial", "put", "k", "v", "--fence", "L:x"},
		{"serial", "put", "k", "v", "--fence", "L:0"},
		{"serial", "delete", "k", "--fence", "L:-1"},
		{"serial", "incr", "k", "--by", "0"},
		{"serial", "incr", "k", "--by", "x"},
		{"serial", "get", "k", "-o", "yaml"},
		{"lock", "acquire", "L", "--ttl", "1s"},
		{"lock", "acquire", "L", "--holder", "me"},
		{"lock", "acquire", "L", "--holder", "me", "--ttl", "0s"},
		{"lock", "acquire", "L", "--holder", "me", "--ttl", "-1s"},
		{"lock", "acquire", "L", "--holder", "me", "--ttl", "1s", "--wait", "-1s"},
		{"lock", "acquire", "--holder", "me", "--ttl", "1s"},
		{"lock", "renew", "L"},
		{"lock", "release", "L", "--token", "0"},
		{"lock", "release", "L", "--token", "x"},
		{"lock", "describe"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage || !strings.HasPrefix(errOut.String(), "Error: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

// TestCountFlagsNeverWrap: an explicit --r/--w is a count from 1 to N. 0,
// a negative count and one past what the wire's 32 bits hold (which would
// wrap to W=1) are usage errors that say what is wanted, before any node
// is asked; so are limit flags of zero.
func TestCountFlagsNeverWrap(t *testing.T) {
	for _, args := range [][]string{
		{"put", "k", "v", "--w", "4294967297"},
		{"put", "k", "v", "--w", "0"},
		{"get", "k", "--r", "0"},
		{"get", "k", "--r", "-1"},
		{"delete", "k", "--w", "256"},
		{"get", "k", "--r", "99999999999999999999"},
		{"bench", "--w", "4294967297"},
		{"bench", "--r", "0"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--max-conns", "0"},
		{"server", "--id", "n1", "--data", "/tmp/x", "--max-object-size", "1000"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("QUORUMKV_ENDPOINTS", "127.0.0.1:1") // nothing is asked: the flag is refused first
			var out, errOut bytes.Buffer
			code := run(args, &out, &errOut)
			if code != exitUsage || !strings.HasPrefix(errOut.String(), "Error: ") {
				t.Fatalf("exit %d, stderr %q", code, errOut.String())
			}
			if args[0] != "server" && !strings.Contains(errOut.String(), "want a replica count from 1 to N") {
				t.Fatalf("stderr %q does not say what is wanted", errOut.String())
			}
		})
	}
}
