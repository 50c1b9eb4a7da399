//go:build faultinject

package main

import (
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/internal/faultinject"
	"github.com/quorumkv/quorumkv/node"
)

func TestFaultFlagsWrapTheNode(t *testing.T) {
	parse := func(t *testing.T, args ...string) (node.Config, error) {
		t.Helper()
		var f faultFlags
		cmd := &cobra.Command{}
		f.register(cmd)
		if err := cmd.Flags().Parse(args); err != nil {
			t.Fatal(err)
		}
		var cfg node.Config
		return cfg, f.apply(&cfg)
	}
	cfg, err := parse(t, "--test-bug=skip-apply", "--clock-offset=90s")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.WrapReplicaWrites(nil).(faultinject.SkipApply); !ok || cfg.WrapHints != nil {
		t.Fatalf("skip-apply wraps the replica writes only")
	}
	if d := cfg.Clock.Now().Sub(time.Now()); d < 89*time.Second || d > 91*time.Second {
		t.Fatalf("clock offset: %v ahead, want 90s", d)
	}
	if cfg, err = parse(t, "--test-bug=drop-hints"); err != nil || cfg.WrapHints == nil || cfg.WrapReplicaWrites != nil || cfg.Clock != nil {
		t.Fatalf("drop-hints: err %v, wraps the hints only", err)
	}
	if _, err := parse(t, "--test-bug=nonsense"); err == nil {
		t.Fatal("an unknown test bug was accepted")
	}
}
