package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// envPrefix: every flag --some-flag also reads QUORUMKV_SOME_FLAG.
const envPrefix = "QUORUMKV_"

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "quorumkv",
		Short:         "A leaderless, quorum-replicated key-value store",
		SilenceUsage:  true,
		SilenceErrors: true,
		Long: `quorumkv is a leaderless, Dynamo-style key-value store: any node serves any
request, keys live on N replicas, every request picks its consistency level,
and concurrent writes are kept as siblings.

Every flag can also be set with an environment variable QUORUMKV_<FLAG>
(e.g. QUORUMKV_ENDPOINTS); a flag on the command line wins.

Exit codes: 0 ok, 1 error, 2 usage error, 3 unavailable (quorum not reached;
for serial and lock commands: nothing applied), 4 key not found, 5 not applied
(serial and lock commands: condition not met, lock held by another or lost,
fenced by a newer lock token, not a number), 6 outcome unknown (serial and lock
commands: the change may have applied), 7 denied (no client certificate where
one is required, or one whose role does not allow the command).`,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newServerCmd(),
		newDemoCmd(),
		newGetCmd(),
		newPutCmd(),
		newDeleteCmd(),
		newSerialCmd(),
		newLockCmd(),
		newLeaseCmd(),
		newWatchCmd(),
		newServiceCmd(),
		newRingCmd(),
		newBenchCmd(),
		newHintsCmd(),
		newRepairCmd(),
		newCertCmd(),
		newGossipKeyCmd(),
	)
	return root
}

// applyEnv fills every flag not given on the command line from its
// environment variable.
func applyEnv(cmd *cobra.Command) error {
	var err error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := envPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if serr := cmd.Flags().Set(f.Name, v); serr != nil {
				err = usagef("%s=%q: %v", name, v, serr)
			}
		}
	})
	return err
}

// exactArgs is cobra.ExactArgs with a usage error and named arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("want %d argument(s) (%s), got %d", len(names), strings.Join(names, " "), len(args))
		}
		return nil
	}
}

// outputFlag adds -o table|json.
func outputFlag(cmd *cobra.Command, dst *string) {
	cmd.Flags().StringVarP(dst, "output", "o", "table", "output format: table or json")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return usagef("unknown output format %q (want table or json)", o)
	}
	return nil
}

func fprintf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
