package main

import (
	"encoding/json"
	"testing"
)

// TestProcessRepair: with hinted handoff off, n3 misses 500 writes while it
// is stopped; `quorumkv repair` after its restart brings them all, so n3
// alone serves every key at ONE. n3 stops cleanly: after an unclean stop it
// would refill itself on restart (a new incarnation), with no repair left
// for the command to do.
func TestProcessRepair(t *testing.T) {
	pc := startProcCluster(t, 3, "--hinted-handoff=false")
	pc.stop(2)
	putKeys(t, pc.client(0), 500)
	pc.start(2, "--hinted-handoff=false")
	pc.waitRing(3)
	out, code := pc.cli("repair", "-o", "json", "--endpoints", pc.endpoints())
	if code != 0 {
		t.Fatalf("repair exited %d: %s", code, out)
	}
	var r repairOutput
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if r.PartitionsCompared == 0 || r.KeysRepaired < 500 || r.Errors != 0 {
		t.Fatalf("repair = %s, want >= 500 keys repaired and no errors", out)
	}
	pc.kill(0)
	pc.kill(1)
	if got := readAllAtOne(t, pc.client(2), 500); got != 500 {
		t.Fatalf("n3 alone serves %d/500 keys at ONE", got)
	}
}
