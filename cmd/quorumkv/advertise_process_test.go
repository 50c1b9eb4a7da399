package main

import (
	"encoding/json"
	"net"
	"testing"
)

// TestProcessAdvertise: a node listening on 0.0.0.0 publishes a dialable
// address (the IP its gossip announces), one given --advertise publishes
// that host at its port, and the ring serves through both.
func TestProcessAdvertise(t *testing.T) {
	pc := newProcCluster(t, 3)
	_, port1, _ := net.SplitHostPort(pc.procs[0].listen)
	_, port2, _ := net.SplitHostPort(pc.procs[1].listen)
	pc.start(0, "--listen", "0.0.0.0:"+port1)
	pc.start(1, "--listen", "0.0.0.0:"+port2, "--advertise", "localhost")
	pc.start(2)
	pc.waitRing(3)
	out, code := pc.cli("ring", "status", "-o", "json", "--endpoints", pc.procs[2].listen)
	if code != 0 {
		t.Fatalf("ring status: exit %d: %s", code, out)
	}
	var st struct {
		Members []struct{ ID, Address string }
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"n1": "127.0.0.1:" + port1, "n2": "localhost:" + port2, "n3": pc.procs[2].listen}
	for _, m := range st.Members {
		if m.Address != want[m.ID] {
			t.Errorf("%s publishes %q, want %q", m.ID, m.Address, want[m.ID])
		}
	}
	for i := range 20 {
		key := "adv-" + string(rune('a'+i))
		if out, code := pc.cli("put", key, "v", "--consistency", "all", "--endpoints", pc.procs[2].listen); code != 0 {
			t.Fatalf("put %s at ALL: exit %d: %s", key, code, out)
		}
	}
}
