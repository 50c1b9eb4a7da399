package nemesis

import (
	"context"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// A request to a node that is down is a node failure, not "other".
func TestClassifyNodeDown(t *testing.T) {
	c, err := client.New([]string{"127.0.0.1:1"}, client.WithAttemptTimeout(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Put(context.Background(), []byte("k"), []byte("v"))
	if got := classify(err); got != "node_unreachable" {
		t.Fatalf("classify(%T %v) = %q, want node_unreachable", err, err, got)
	}
	if got := classify(&client.UnavailableError{Op: "write"}); got != "unavailable_write" {
		t.Fatalf("classify(unavailable) = %q", got)
	}
	if got := classify(nil); got != "" {
		t.Fatalf("classify(nil) = %q", got)
	}
}
