package node_test

import (
	"errors"
	"testing"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/faultinject"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// A node whose replica writes are wrapped in faultinject.SkipApply
// acknowledges its peers' writes without storing them, so a write
// acknowledged at quorum through a healthy coordinator lives on that one
// disk only, and losing the disk loses the write: what the fault harness's
// bite test must catch.
func TestSkipApplyLosesAcknowledgedWrites(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: func(cfg *node.Config) {
		cfg.DisableAntiEntropy, cfg.DisableHintedHandoff = true, true
		if cfg.ID != "n1" {
			cfg.WrapReplicaWrites = func(w node.ReplicaWrites) node.ReplicaWrites {
				return faultinject.SkipApply{ReplicaWrites: w}
			}
		}
	}})
	ctx := ctxT(t)
	key := []byte("acknowledged")
	if _, err := c.Client("n1").Put(ctx, key, []byte("v"), client.WithLevel(client.Quorum)); err != nil {
		t.Fatalf("put at quorum: %v", err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		_, found, err := c.Node(id).Store().Get(key)
		if err != nil {
			t.Fatal(err)
		}
		if want := id == "n1"; found != want {
			t.Fatalf("%s holds the key: %v, want %v", id, found, want)
		}
	}
	c.Wipe(0)
	c.Restart(0)
	c.WaitConverged()
	if _, err := c.Client("n1").Get(ctx, key, client.WithLevel(client.All)); !errors.Is(err, client.ErrNotFound) {
		t.Fatalf("get after n1's disk was lost: %v, want %v (the write is lost)", err, client.ErrNotFound)
	}
}
