//go:build !faultinject

package main

import (
	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/node"
)

// faultFlags is empty in the product: it has no fault-injection flags, so
// `server --test-bug` and `--clock-offset` are unknown flags.
type faultFlags struct{}

func (*faultFlags) register(*cobra.Command) {}

func (*faultFlags) apply(*node.Config) error { return nil }
