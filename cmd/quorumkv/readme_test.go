package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's tour is a test: every ```sh block between the markers below
// runs, in order, in one `bash -euo pipefail` session from the repository
// root, against real processes on the tour's fixed ports.
const (
	tourStart = "<!-- tour -->"
	tourEnd   = "<!-- /tour -->"
	// The security section's block runs the same way, on its own.
	securityStart = "<!-- security-tour -->"
	securityEnd   = "<!-- /security-tour -->"
	// The register and lock examples run against the demo, as the README
	// says they do; the test starts and stops it around them.
	registersStart = "<!-- registers-tour -->"
	registersEnd   = "<!-- /registers-tour -->"
)

// tourPorts are the ports the tour's commands use (demo and servers). No
// other test in the repository listens on them.
var tourPorts = []int{7101, 7102, 7103, 7201, 7202, 7203}

// needTourPorts fails the test when one of the tour's ports is taken.
func needTourPorts(t *testing.T) {
	t.Helper()
	for _, p := range tourPorts {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("the tour's port %d is taken (a demo or server still running?): %v", p, err)
		}
		l.Close()
	}
}

// tourScript extracts the tour's shell blocks from the README text.
func tourScript(readme string) (string, error) { return markedScript(readme, tourStart, tourEnd) }

// markedScript extracts the shell blocks between the markers start and
// end from the README text.
func markedScript(readme, start, end string) (string, error) {
	var blocks []string
	rest := readme
	for {
		i := strings.Index(rest, start)
		if i < 0 {
			break
		}
		rest = rest[i+len(start):]
		j := strings.Index(rest, end)
		if j < 0 {
			return "", fmt.Errorf("%s without %s", start, end)
		}
		section := rest[:j]
		rest = rest[j+len(end):]
		lines := strings.Split(section, "\n")
		var block []string
		in := false
		for _, l := range lines {
			switch {
			case !in && strings.TrimSpace(l) == "```sh":
				in, block = true, nil
			case in && strings.TrimSpace(l) == "```":
				in = false
				blocks = append(blocks, strings.Join(block, "\n"))
			case in:
				block = append(block, l)
			}
		}
		if in {
			return "", errors.New("unterminated ```sh block in the tour")
		}
	}
	if len(blocks) == 0 {
		return "", fmt.Errorf("no ```sh blocks between %s and %s", start, end)
	}
	return strings.Join(blocks, "\n") + "\n", nil
}

func TestTourScriptExtraction(t *testing.T) {
	md := "intro\n```sh\nnot me\n```\n" + tourStart + "\ntext\n```sh\na\nb\n```\n```go\nno\n```\nmore\n```sh\nc\n```\n" + tourEnd + "\n```sh\nnot me either\n```\n"
	got, err := tourScript(md)
	if err != nil || got != "a\nb\nc\n" {
		t.Fatalf("tourScript = %q, %v", got, err)
	}
	if _, err := tourScript("no markers"); err == nil {
		t.Fatal("a README without the markers gave a script")
	}
}

// TestReadmeTour runs the README's tour and checks the outcomes it
// promises.
func TestReadmeTour(t *testing.T) {
	root, script := readmeBlocks(t, tourStart, tourEnd)
	output, tmp, runErr := runReadmeScript(t, root, script)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf(format, args...)
	}
	if runErr != nil {
		fail("the tour failed: %v", runErr)
	}
	for _, want := range []struct{ what, re string }{
		{"ring wait prints a healthy ring", `3 up, 0 down, 0 joining, 0 leaving — healthy`},
		{"the first put", `(?m)^ok\s+2/2 replicas acknowledged`},
		{"the first get", `(?m)^value\s+hello$`},
		{"ring endpoints", `(?m)^partition\s+\d+\n(replica 1\s+n\d\s+127\.0\.0\.1:710\d)`},
		{"two siblings", `(?m)^sibling 1\s+(hola|bonjour)\nsibling 2\s+(hola|bonjour)\n`},
		{"the resolved value", `(?m)^value\s+hello, resolved$`},
		{"a put at ALL", `(?m)^ok\s+3/3 replicas acknowledged`},
		{"a missing key", `(?m)^Error: key "no-such-key": key not found\nexit 4$`},
		{"the QUORUM get with n3 dead", `(?m)^value\s+v2$`},
		{"the ALL get with n3 dead", `(?m)^Error: read unavailable: 3 replicas required, 2 answered\nexit 3$`},
		{"hints for n3", `(?m)^[1-9]\d* hints pending$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(output) {
			fail("the output lacks %s (%s)", want.what, want.re)
		}
	}
	if strings.Count(output, "— healthy") < 3 {
		fail("want a healthy verdict from each ring wait and ring status, got %d", strings.Count(output, "— healthy"))
	}
	if s := regexp.MustCompile(`(?m)^sibling 1\s+(\w+)\nsibling 2\s+(\w+)\n`).FindStringSubmatch(output); s != nil && s[1] == s[2] {
		fail("the siblings are the same value: %v", s[1:])
	}
	if t.Failed() {
		t.Logf("script:\n%s", script)
		t.Logf("output:\n%s", output)
		logs, _ := filepath.Glob(filepath.Join(tmp, "*", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
	}
}

// runReadmeScript runs a README script in one `bash -euo pipefail` session
// from the repository root (root) on the tour's ports, and returns its
// output, its temporary directory and its error.
func runReadmeScript(t *testing.T, root, script string) (string, string, error) {
	t.Helper()
	needTourPorts(t)
	// The scripts build ./quorumkv in the repository root; leave no binary
	// behind that was not there before.
	bin := filepath.Join(root, "quorumkv")
	if _, err := os.Stat(bin); errors.Is(err, os.ErrNotExist) {
		t.Cleanup(func() { os.Remove(bin) })
	}
	// mktemp -d and the demo's data land in tmp; its logs are shown on failure.
	tmp := t.TempDir()
	outPath := filepath.Join(tmp, "tour.out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = root
	cmd.Env = append(tourEnv(), "TMPDIR="+tmp)
	// The output goes to a file, not a pipe: background servers inherit it
	// and would hold a pipe open after bash exits.
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: everything the script starts dies with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runErr := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	got, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the script took %v", time.Since(start).Round(time.Millisecond))
	return string(got), tmp, runErr
}

// readmeBlocks returns the repository root and the README's shell blocks
// between the markers start and end (skipping the test without bash).
func readmeBlocks(t *testing.T, start, end string) (string, string) {
	t.Helper()
	needBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the tour needs bash")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script, err := markedScript(string(readme), start, end)
	if err != nil {
		t.Fatal(err)
	}
	return root, script
}

// TestReadmeSecurityTour runs the README's security block: a 3-node
// cluster with TLS, client certificates and encrypted gossip from
// `quorumkv cert`, used with the admin certificate, refusing a client
// without one.
func TestReadmeSecurityTour(t *testing.T) {
	root, script := readmeBlocks(t, securityStart, securityEnd)
	output, tmp, runErr := runReadmeScript(t, root, script)
	if runErr != nil {
		t.Errorf("the security block failed: %v", runErr)
	}
	for _, want := range []struct{ what, re string }{
		{"a healthy ring", `3 up, 0 down, 0 joining, 0 leaving — healthy`},
		{"the put", `(?m)^ok\s+\d/\d replicas acknowledged`},
		{"the refusal without a certificate", `(?m)unauthenticated.*\nexit 7$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(output) {
			t.Errorf("the output lacks %s (%s)", want.what, want.re)
		}
	}
	if t.Failed() {
		t.Logf("script:\n%s\noutput:\n%s", script, output)
		logs, _ := filepath.Glob(filepath.Join(tmp, "*", "*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", l, b)
		}
	}
}

// TestReadmeRegistersTour runs the README's register and lock examples
// against the demo and checks the outcomes their comments promise.
func TestReadmeRegistersTour(t *testing.T) {
	root, blocks := readmeBlocks(t, registersStart, registersEnd)
	script := "go build -o quorumkv ./cmd/quorumkv\n./quorumkv demo & DEMO=$!\n./quorumkv ring wait --members 3\n" +
		blocks + "kill $DEMO && wait $DEMO\n"
	output, _, runErr := runReadmeScript(t, root, script)
	if runErr != nil {
		t.Errorf("the register examples failed: %v", runErr)
	}
	for _, want := range []struct{ what, re string }{
		{"the first put", `(?m)^ok\s+version 1, value v1$`},
		{"the refused put", `(?m)^not applied\s+version 2, value v2\nError: .*condition not met\nexit 5$`},
		{"the increment", `(?m)^ok\s+version 1, value 5$`},
		{"the held lock", `(?m)^held\s+by worker-1, token 1.*\nError: .*held by "worker-1".*\nexit 5$`},
		{"the second token", `(?m)^acquired\s+token 2, ttl 30s$`},
		{"the fenced write", `(?m)^Error: fenced: lock "jobs" token 1 is older than token 2.*\nexit 5$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(output) {
			t.Errorf("the output lacks %s (%s)", want.what, want.re)
		}
	}
	if t.Failed() {
		t.Logf("script:\n%s\noutput:\n%s", script, output)
	}
}

// tourEnv is the test's environment without QUORUMKV_ variables, as a
// fresh shell would have it.
func tourEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) && !strings.HasPrefix(kv, "TMPDIR=") {
			env = append(env, kv)
		}
	}
	return env
}
