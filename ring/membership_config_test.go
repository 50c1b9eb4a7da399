package ring

import (
	"testing"
	"time"
)

func TestMembershipPresets(t *testing.T) {
	for name, p := range map[string]MembershipConfig{"default": DefaultMembershipConfig(), "local": LocalMembershipConfig()} {
		if err := p.Gossip.Validate(); err != nil {
			t.Errorf("%s preset: %v", name, err)
		}
		if p.RejoinInterval <= 0 || p.FirstRejoinDelay <= 0 || p.SyncInterval <= 0 {
			t.Errorf("%s preset has no rejoin interval", name)
		}
	}
	if l, d := LocalGossip(), LANGossip(); l.ProbeInterval >= d.ProbeInterval || l.PushPullInterval >= d.PushPullInterval {
		t.Errorf("local gossip is not quicker than LAN gossip: %+v vs %+v", l, d)
	}
	cfg := nodeConfig(nodeOpts{id: "a", gossip: "127.0.0.1:0"})
	cfg.Gossip = Gossip{}
	if err := cfg.Validate(); err != nil || cfg.Gossip != LANGossip() {
		t.Fatalf("zero gossip: %v, %+v, want LANGossip", err, cfg.Gossip)
	}
	cfg.Gossip.ProbeTimeout = 2 * time.Second
	if err := cfg.Validate(); err == nil {
		t.Fatal("a probe timeout longer than the probe interval was accepted")
	}
}
