package node_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/lease"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/node/nodetest"
)

// fastLeases: sweeps every 50 ms with a 300 ms grace, so tests of expiry
// take about a second.
func fastLeases(c *node.Config) {
	c.Leases = lease.DefaultConfig()
	c.Leases.SweepEvery, c.Leases.Grace, c.Leases.Stagger = 50*time.Millisecond, 300*time.Millisecond, 200*time.Millisecond
}

func mustGone(ctx context.Context, cl *client.Client, key string) error {
	_, err := cl.Get(ctx, []byte(key))
	if errors.Is(err, client.ErrNotFound) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("%s is still there", key)
	}
	return err
}

// A leased key lives while its lease is kept alive and is gone within
// ttl + grace of the last keep-alive; the lease is then not found.
func TestLeasedKeysExpire(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: fastLeases})
	cl := c.Client()
	ctx := context.Background()
	l, err := cl.GrantLease(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"svc/{a}/1", "svc/{a}/2", "other"} {
		if _, err := cl.Put(ctx, []byte(k), []byte("v"), client.WithLease(l.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// Kept alive past three ttls, through a different node each time.
	for i := range 9 {
		if _, err := c.Client(c.IDs()[i%3]).KeepAliveLease(ctx, l.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(350 * time.Millisecond) // the keep-alive cadence under test
	}
	if _, err := cl.Get(ctx, []byte("svc/{a}/1")); err != nil {
		t.Fatalf("a kept-alive key: %v", err)
	}
	info, err := cl.ShowLease(ctx, l.ID)
	if err != nil || len(info.Keys) != 3 || info.TTL != time.Second {
		t.Fatalf("show: %+v, %v", info, err)
	}
	stopped := time.Now()
	nodetest.Eventually(t, 5*time.Second, func() error {
		for _, k := range []string{"svc/{a}/1", "svc/{a}/2", "other"} {
			if err := mustGone(ctx, cl, k); err != nil {
				return err
			}
		}
		return nil
	})
	if d := time.Since(stopped); d > 3*time.Second {
		t.Errorf("keys gone %v after the last keep-alive (ttl 1s, grace 300ms)", d)
	}
	if _, err := cl.KeepAliveLease(ctx, l.ID); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("keep-alive of an expired lease: %v", err)
	}
	if _, err := cl.Put(ctx, []byte("late"), []byte("v"), client.WithLease(l.ID)); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("put with an expired lease: %v", err)
	}
	var expired uint64
	for _, id := range c.IDs() {
		st, err := c.Client(id).NodeStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		expired += st.GetLeases().GetExpired()
	}
	if expired != 1 {
		t.Errorf("%d expiries counted, want 1", expired)
	}
}

// Revoke deletes at once; a write of a key after the lease's own survives
// the lease's end (the expiry is a causal delete).
func TestRevokeDeletesOnlyWhatTheLeaseWrote(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: fastLeases})
	cl := c.Client()
	ctx := context.Background()
	l, err := cl.GrantLease(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"a", "b"} {
		if _, err := cl.Put(ctx, []byte(k), []byte("leased"), client.WithLease(l.ID)); err != nil {
			t.Fatal(err)
		}
	}
	// b is written again, without the lease, by a writer that saw it.
	res, err := cl.Get(ctx, []byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, []byte("b"), []byte("mine"), client.WithContext(res.Context)); err != nil {
		t.Fatal(err)
	}
	n, err := cl.RevokeLease(ctx, l.ID)
	if err != nil || n != 2 {
		t.Fatalf("revoke: %d keys, %v", n, err)
	}
	if err := mustGone(ctx, cl, "a"); err != nil {
		t.Fatal(err)
	}
	got, err := cl.Get(ctx, []byte("b"))
	if err != nil || len(got.Values) != 1 || string(got.Values[0]) != "mine" {
		t.Fatalf("b after the revoke: %+v, %v", got, err)
	}
	if _, err := cl.RevokeLease(ctx, l.ID); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := cl.ShowLease(ctx, l.ID); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Fatalf("show of a revoked lease: %v", err)
	}
}

// Bad lease requests fail with INVALID_ARGUMENT; the store's own keys are
// not the client's to write.
func TestLeaseBadInput(t *testing.T) {
	c := nodetest.Start(t, 1, nodetest.Options{Replicas: 1, Tune: fastLeases})
	cl := c.Client()
	ctx := context.Background()
	for _, ttl := range []time.Duration{0, time.Millisecond, 48 * time.Hour} {
		if _, err := cl.GrantLease(ctx, ttl); !errors.Is(err, client.ErrInvalidArgument) {
			t.Errorf("grant ttl %v: %v", ttl, err)
		}
	}
	if _, err := cl.KeepAliveLease(ctx, 0); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("keep-alive of lease 0: %v", err)
	}
	if _, err := cl.KeepAliveLease(ctx, 12345); !errors.Is(err, client.ErrLeaseNotFound) {
		t.Errorf("keep-alive of an unknown lease: %v", err)
	}
	if _, err := cl.Put(ctx, lease.RecordKey(5), []byte("x")); !errors.Is(err, client.ErrInvalidArgument) {
		t.Errorf("put of a reserved key: %v", err)
	}
}

// A node that sees no majority of members up expires nothing, and says so.
func TestLeaseSelfPreservation(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: fastLeases})
	cl := c.Client("n1")
	ctx := context.Background()
	l, err := cl.GrantLease(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Put(ctx, []byte("k"), []byte("v"), client.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	c.Stop(1)
	c.Stop(2)
	nodetest.Eventually(t, 10*time.Second, func() error {
		st, err := cl.NodeStatus(ctx)
		if err != nil {
			return err
		}
		if !st.GetLeases().GetFrozen() || st.GetLeases().GetOverdue() == 0 {
			return fmt.Errorf("lease stats %v", st.GetLeases())
		}
		return nil
	})
	// Still held on n1's own replica: nothing was expired.
	if v, found, err := c.Nodes[0].Store().Get([]byte("k")); err != nil || !found || v.AllTombstones() {
		t.Fatalf("n1's copy of k: %v %v %v", v, found, err)
	}
	if st, _ := cl.NodeStatus(ctx); st.GetLeases().GetExpired() != 0 {
		t.Fatalf("expired %d while frozen", st.GetLeases().GetExpired())
	}
}

// TestWatchTellsExpiryFromDelete: a watcher of a group sees "expire" for the
// key whose lease expired, "delete" for the key whose lease was revoked and
// for the key deleted by a client.
func TestWatchTellsExpiryFromDelete(t *testing.T) {
	c := nodetest.Start(t, 3, nodetest.Options{Tune: fastLeases})
	cl := c.Client()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	expiring, err := cl.GrantLease(ctx, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := cl.GrantLease(ctx, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	puts := []struct {
		key string
		id  lease.ID
	}{{"w/{x}/expires", lease.ID(expiring.ID)}, {"w/{x}/revoked", lease.ID(revoked.ID)}, {"w/{x}/deleted", 0}}
	events := make(chan client.WatchEvent, 64)
	watchDone := make(chan error, 1)
	go func() {
		watchDone <- cl.Watch(ctx, client.WatchSpec{Group: "x"}, func(ev client.WatchEvent) error {
			if ev.Type != "progress" {
				events <- ev
			}
			return nil
		})
	}()
	for _, p := range puts {
		var opts []client.CallOption
		if p.id != 0 {
			opts = append(opts, client.WithLease(client.LeaseID(p.id)))
		}
		if _, err := cl.Put(ctx, []byte(p.key), []byte("v"), opts...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.RevokeLease(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	got, err := cl.Get(ctx, []byte("w/{x}/deleted"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Delete(ctx, []byte("w/{x}/deleted"), client.WithContext(got.Context)); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"w/{x}/expires": "expire", "w/{x}/revoked": "delete", "w/{x}/deleted": "delete"}
	last := map[string]string{}
	for !maps.Equal(last, want) {
		select {
		case ev := <-events:
			last[string(ev.Key)] = ev.Type
		case err := <-watchDone:
			t.Fatalf("the watch ended: %v", err)
		case <-ctx.Done():
			t.Fatalf("last event per key %v, want %v", last, want)
		}
	}
}
