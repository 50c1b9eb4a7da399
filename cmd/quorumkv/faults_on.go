//go:build faultinject

package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/internal/faultinject"
	"github.com/quorumkv/quorumkv/node"
)

// faultFlags break a node on purpose so the fault harness can show its
// checker bites (this build only: go build -tags faultinject).
type faultFlags struct {
	bug         string
	clockOffset time.Duration
}

func (f *faultFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.DurationVar(&f.clockOffset, "clock-offset", 0, "skew this node's wall clock (fault tests)")
	fl.StringVar(&f.bug, "test-bug", "", "deliberately break the node (fault tests): skip-apply or drop-hints")
	_ = fl.MarkHidden("clock-offset")
	_ = fl.MarkHidden("test-bug")
}

// apply wraps cfg's components in the faults the flags ask for.
func (f *faultFlags) apply(cfg *node.Config) error {
	if err := faultinject.CheckBug(f.bug); err != nil {
		return err
	}
	if f.clockOffset != 0 {
		cfg.Clock = faultinject.Offset{Clock: cfg.Clock, D: f.clockOffset}
	}
	switch f.bug {
	case faultinject.BugSkipApply:
		cfg.WrapReplicaWrites = func(w node.ReplicaWrites) node.ReplicaWrites { return faultinject.SkipApply{ReplicaWrites: w} }
	case faultinject.BugDropHints:
		cfg.WrapHints = func(coordinator.Hints) coordinator.Hints { return faultinject.DropHints{} }
	}
	return nil
}
