package node_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node/nodetest"
	"github.com/quorumkv/quorumkv/paxos"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/serial"
)

// registersOn counts the serial registers node i stores.
func registersOn(t *testing.T, c *nodetest.Cluster, id string, parts int) (n int, floors int) {
	s := c.Node(id).Store()
	for p := range parts {
		_ = s.ScanRegisters(p, func(k replica.RegisterKey, _ paxos.Record) error {
			if k.Kind == serial.KindSerial {
				n++
			}
			return nil
		})
		if f, _ := s.PaxosFloor(p); !f.IsZero() {
			floors++
		}
	}
	return n, floors
}

// TestRegisterCollection (CASPaxos §3.1, our floor variant): deleted
// registers are removed from every replica by one collection pass, each
// partition's floor is raised, live registers stay, and a collected key
// can be created again; a delayed accept from before the delete is
// refused by the floor on every replica (R8, the lost delete).
func TestRegisterCollection(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{})
	ctx := ctxT(t)
	cl := c.Client()
	const keys = 20
	for i := range keys {
		if _, err := cl.CompareAndSet(ctx, []byte(fmt.Sprintf("g-%d", i)), []byte("v"), client.ExpectAbsent()); err != nil {
			t.Fatal(err)
		}
	}
	for i := range keys / 2 {
		if _, err := cl.SerialDelete(ctx, []byte(fmt.Sprintf("g-%d", i)), client.ExpectVersion(1)); err != nil {
			t.Fatal(err)
		}
	}
	parts := c.Node("n1").Membership().Ring().Config().Partitions
	// The old accept a delayed message could still deliver: the value of
	// g-0 at the ballot it was written with.
	p0 := c.Node("n1").Membership().Ring().Partition([]byte("g-0"))
	k0 := replica.RegisterKey{Partition: p0, Kind: serial.KindSerial, Key: []byte("g-0")}
	removed := 0
	for _, id := range c.IDs() {
		removed += c.Node(id).CollectRegisters(context.Background())
	}
	if removed == 0 {
		t.Fatal("collection removed nothing")
	}
	for _, id := range c.IDs() {
		n, floors := registersOn(t, c, id, parts)
		if n != keys/2 || floors == 0 {
			t.Errorf("%s holds %d registers (want %d) and %d floors", id, n, keys/2, floors)
		}
		old := paxos.Ballot{Counter: 1, Node: "n9"}
		if r, err := c.Node(id).Store().Accept(k0, 0, old, paxos.State{Exists: true, Value: []byte("v"), Version: 1}, paxos.Ballot{}); err == nil && r.OK {
			t.Errorf("%s took an accept below the floor: the deleted value came back", id)
		}
	}
	for i := range keys {
		r, err := cl.SerialGet(ctx, []byte(fmt.Sprintf("g-%d", i)))
		if err != nil || r.Found != (i >= keys/2) {
			t.Fatalf("g-%d after collection: %+v %v", i, r, err)
		}
	}
	r, err := cl.CompareAndSet(ctx, []byte("g-0"), []byte("again"), client.ExpectAbsent())
	if err != nil || !r.Applied || r.Version != 1 {
		t.Fatalf("re-create a collected key: %+v %v", r, err)
	}
	if _, err := cl.CompareAndSet(ctx, []byte("g-1"), []byte("x"), client.ExpectVersion(2)); !errors.Is(err, client.ErrConditionFailed) {
		t.Fatalf("a collected register kept its version: %v", err)
	}
}
