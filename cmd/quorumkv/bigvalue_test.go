package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestPutTooLargeIsUsageError: `quorumkv put` of a value past the node's
// message limit (6 MiB with the 1 MiB value limit) exits 2 with an Error:
// line naming the limit, and the next put works. (Run in process: a shell
// cannot pass an argument of 6 MiB to a program.)
func TestPutTooLargeIsUsageError(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{Replicas: 1})
	endpoints := c.Node("n1").Addr()
	var out, errOut bytes.Buffer
	code := run([]string{"put", "k", strings.Repeat("x", 6<<20), "--endpoints", endpoints}, &out, &errOut)
	if code != exitUsage || !strings.HasPrefix(errOut.String(), "Error: ") ||
		!strings.Contains(errOut.String(), "invalid argument") || !strings.Contains(errOut.String(), "larger than") {
		t.Fatalf("6 MiB put: exit %d, stderr %q", code, errOut.String())
	}
	t.Logf("6 MiB put: exit %d, stderr %s", code, errOut.String())
	out.Reset()
	errOut.Reset()
	if code := run([]string{"put", "k", "v", "--endpoints", endpoints}, &out, &errOut); code != exitOK {
		t.Fatalf("small put after it: exit %d, stderr %q", code, errOut.String())
	}
}
