package node_test

import (
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// TestSerialPaxosOnThePipe: the Paxos messages of compare-and-sets travel
// between nodes on the peer pipe: no node calls the Paxos service of
// another while they run.
func TestSerialPaxosOnThePipe(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	for i, id := range c.IDs() {
		cl := c.Client(id)
		key := []byte(fmt.Sprintf("reg%d", i))
		for v := range 5 {
			if _, err := cl.CompareAndSet(ctx, key, []byte("v"), client.ExpectVersion(uint64(v))); err != nil {
				t.Fatalf("compare-and-set %d on %s: %v", v, id, err)
			}
		}
	}
	piped := uint64(0)
	for _, id := range c.IDs() {
		s := c.Node(id).PaxosSent()
		if s.UnaryCalls != 0 {
			t.Errorf("%s made %d calls of the Paxos service (%+v)", id, s.UnaryCalls, s)
		}
		piped += s.PipeItems
	}
	if piped == 0 {
		t.Fatal("no Paxos message went on a pipe")
	}
}
