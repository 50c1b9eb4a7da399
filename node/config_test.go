package node

import (
	"strings"
	"testing"
	"time"
)

// TestHintMaxAgeLeavesAMargin (issue 13, suspicion 4: a hint checked just
// before its max age lands after the reap). A hint's age is checked on its
// holder's clock just before it is sent; a tombstone's age on the reaper's.
// With the max age equal to the grace, a hint checked a moment before its
// age ran out (and delivered a little later) could land after a reaper
// whose clock runs slightly ahead counted the grace of a delete written
// right after the hint's write as passed, and bring the deleted value back.
// A node keeps hints for half the grace: the other half is the margin for
// the delivery delay and the difference between the two clocks.
func TestHintMaxAgeLeavesAMargin(t *testing.T) {
	for _, grace := range []time.Duration{24 * time.Hour, 20 * time.Second, time.Millisecond} {
		cfg := Config{TombstoneGrace: grace}
		if got := cfg.hintMaxAge(); got != grace/2 {
			t.Fatalf("grace %v: hints kept %v, want %v", grace, got, grace/2)
		}
		// A hint delivered at the last moment its holder allows, by a
		// holder whose clock is behind the reaper's by less than the
		// margin, still lands before the reaper may reap a delete written
		// just after the hint's write.
		const skew = 0.49
		hintDeliveredBy := cfg.hintMaxAge() + time.Duration(skew*float64(grace/2)) // reaper's clock
		if hintDeliveredBy >= grace {
			t.Fatalf("grace %v: a hint may land %v after its write, not before the reap at %v", grace, hintDeliveredBy, grace)
		}
	}
}

// TestConfigPresets: both presets fill every timer, LocalConfig's are the
// quicker, and a config left zero gets DefaultConfig's.
func TestConfigPresets(t *testing.T) {
	def, local := DefaultConfig(), LocalConfig()
	for name, c := range map[string]Config{"default": def, "local": local} {
		c.ID, c.DataDir, c.Listen, c.Gossip = "n1", "d", "127.0.0.1:0", "127.0.0.1:0"
		if err := c.Validate(); err != nil {
			t.Errorf("%s preset: %v", name, err)
		}
		if c.RejoinInterval <= 0 || c.ParkAfter <= 0 || c.StuckAfter <= 0 || c.DrainTimeout <= 0 || c.TombstoneGrace <= 0 {
			t.Errorf("%s preset leaves a timer zero: %+v", name, c)
		}
	}
	if local.GossipTimers.ProbeInterval >= def.GossipTimers.ProbeInterval || local.ParkAfter >= def.ParkAfter ||
		local.StuckAfter >= def.StuckAfter || local.RejoinInterval >= def.RejoinInterval {
		t.Errorf("LocalConfig's timers are not quicker than DefaultConfig's")
	}
	var zero Config
	zero.setDefaults()
	if zero.GossipTimers != def.GossipTimers || zero.ParkAfter != def.ParkAfter || zero.RejoinInterval != def.RejoinInterval || zero.Replicas != def.Replicas {
		t.Errorf("a zero config does not get DefaultConfig's settings: %+v", zero)
	}
	bad := local
	bad.ID, bad.DataDir, bad.Listen, bad.Gossip = "n1", "d", "127.0.0.1:0", "127.0.0.1:0"
	bad.GossipTimers.ProbeInterval = 0
	if err := bad.Validate(); err == nil {
		t.Error("a gossip tuning without a probe interval was accepted")
	}
}

// TestConfigDiscovery: bad join entries, resolver addresses and LAN
// settings are refused by Validate, each naming what is wrong.
func TestConfigDiscovery(t *testing.T) {
	base := func() Config {
		c := DefaultConfig()
		c.ID, c.DataDir, c.Listen, c.Gossip = "n1", "d", "127.0.0.1:0", "127.0.0.1:0"
		return c
	}
	good := base()
	good.Join = []string{"10.0.0.1:7201", "dns:qkv.test:7201", "dns+srv:_g._tcp.qkv.test"}
	good.DNSResolver, good.BootstrapExpect, good.DiscoverLAN = "127.0.0.1:53", 3, true
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mut  func(*Config)
		says string
	}{
		{func(c *Config) { c.Join = []string{"dns:qkv.test"} }, `"dns:qkv.test": missing port`},
		{func(c *Config) { c.Join = []string{"dns::7201"} }, `"dns::7201": empty name`},
		{func(c *Config) { c.Join = []string{"dns:qkv.test:99999"} }, `bad port`},
		{func(c *Config) { c.Join = []string{"nope"} }, `"nope"`},
		{func(c *Config) { c.DNSResolver = "127.0.0.1" }, "--dns-resolver"},
		{func(c *Config) { c.BootstrapExpect = -1 }, "bootstrap-expect"},
		{func(c *Config) { c.DiscoverLAN, c.LAN.Group = true, "10.0.0.1:7401" }, "multicast"},
	} {
		c := base()
		tc.mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("Validate: %v, want it to say %s", err, tc.says)
		}
	}
}
