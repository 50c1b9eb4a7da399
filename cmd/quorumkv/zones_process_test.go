package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/quorumkv/quorumkv/client"
)

// TestProcessZoneDown: six servers in three zones (two each). Every key's
// three replicas are in three zones, `ring status` and `ring endpoints`
// show the zones, and with a whole zone SIGKILLed every key keeps two
// replicas: strict QUORUM reads of what was written before and strict
// QUORUM writes and reads after all succeed (no fallback replica counts).
func TestProcessZoneDown(t *testing.T) {
	zones := []string{"zone-a", "zone-b", "zone-c", "zone-a", "zone-b", "zone-c"}
	pc := newProcCluster(t, len(zones))
	for i, z := range zones {
		pc.start(i, "--zone", z)
	}
	pc.waitRing(len(zones))
	out, code := pc.cli("ring", "status", "--endpoints", pc.procs[1].listen)
	if code != 0 || !strings.Contains(out, "ZONE") || strings.Count(out, "zone-a") != 2 {
		t.Fatalf("ring status (exit %d) does not show the zones:\n%s", code, out)
	}
	kv, err := client.New(strings.Split(pc.endpoints(), ","))
	if err != nil {
		t.Fatal(err)
	}
	defer kv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const keys = 200
	for i := range keys {
		key := fmt.Sprintf("z-%d", i)
		if _, err := kv.Put(ctx, []byte(key), []byte(key), client.WithStrict()); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		if i%40 == 0 {
			checkEndpointZones(t, pc, key)
		}
	}
	pc.kill(0) // zone-a: n1 and n4
	pc.kill(3)
	var after []string
	for i := range keys {
		key := fmt.Sprintf("z-%d", i)
		res, err := kv.Get(ctx, []byte(key), client.WithStrict())
		if err != nil || len(res.Values) != 1 || string(res.Values[0]) != key {
			t.Fatalf("strict quorum read of %s with zone-a down: %+v, %v", key, res, err)
		}
		nk := fmt.Sprintf("z-after-%d", i)
		if _, err := kv.Put(ctx, []byte(nk), []byte(nk), client.WithStrict()); err != nil {
			t.Fatalf("strict quorum put of %s with zone-a down: %v", nk, err)
		}
		after = append(after, nk)
	}
	for _, key := range after {
		if res, err := kv.Get(ctx, []byte(key), client.WithStrict()); err != nil || string(res.Values[0]) != key {
			t.Fatalf("strict quorum read of %s: %+v, %v", key, res, err)
		}
	}
}

// checkEndpointZones: `ring endpoints` lists the key's three replicas in
// three distinct zones.
func checkEndpointZones(t *testing.T, pc *procCluster, key string) {
	t.Helper()
	out, code := pc.cli("ring", "endpoints", key, "-o", "json", "--endpoints", pc.procs[2].listen)
	if code != 0 {
		t.Fatalf("ring endpoints %s exited %d: %s", key, code, out)
	}
	var ep struct {
		Replicas []string `json:"replicas"`
		Zones    []string `json:"zones"`
	}
	if err := json.Unmarshal([]byte(out), &ep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	seen := map[string]bool{}
	for _, z := range ep.Zones {
		seen[z] = true
	}
	if len(ep.Replicas) != 3 || len(seen) != 3 || seen[""] {
		t.Fatalf("ring endpoints %s: replicas %v in zones %v, want three zones", key, ep.Replicas, ep.Zones)
	}
}
