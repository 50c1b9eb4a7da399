package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// The serial commands run linearizable register requests (service
// quorumkv.v1.Serial). Their exit codes say what became of a change: 0
// applied, 3 nothing applied (no quorum, contention, or no node reached),
// 5 a definite refusal (condition not met, fenced, not a number; stdout
// carries the current state where there is one), 6 outcome unknown.

func newSerialCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serial",
		Short: "Linearizable registers: get, put (compare-and-set), delete, incr",
		Long: `Linearizable registers (CASPaxos): a key space of their own, separate from the
keys of get/put/delete. Each register has a value and a version, the number of
changes applied to it (0 when never written).

Exit codes: 0 applied, 3 nothing applied (quorum not reached, contention, or no
node reached), 4 register not found (serial get), 5 not applied by a definite
refusal (condition not met, fenced by a newer lock token, not a number), 6
outcome unknown (the change may have applied: read the register to see).`,
	}
	cmd.AddCommand(newSerialGetCmd(), newSerialPutCmd(), newSerialDeleteCmd(), newSerialIncrCmd())
	return cmd
}

// serialGetOutput is serial get's JSON.
type serialGetOutput struct {
	Key     string `json:"key"`
	Found   bool   `json:"found"`
	Value   string `json:"value"`
	Version uint64 `json:"version"`
}

// serialChangeOutput is the JSON of serial put, delete and incr: the
// register after the request (its current state when not applied).
type serialChangeOutput struct {
	Key     string `json:"key"`
	Applied bool   `json:"applied"`
	Version uint64 `json:"version"`
	Value   string `json:"value"`
}

func newSerialGetCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a register linearizably: its value and version",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				res, err := c.SerialGet(ctx, []byte(args[0]))
				if err != nil {
					return serialErr(registerName(args[0]), err)
				}
				out := serialGetOutput{Key: args[0], Found: res.Found, Value: string(res.Value), Version: res.Version}
				if err := printSerialGet(cmd.OutOrStdout(), cf.output, out); err != nil {
					return err
				}
				if !res.Found {
					return fmt.Errorf("register %q (version %d): %w", args[0], res.Version, client.ErrNotFound)
				}
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func printSerialGet(w io.Writer, format string, out serialGetOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	if !out.Found {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "value\t%s\n", out.Value)
	fprintf(tw, "version\t%d\n", out.Version)
	return tw.Flush()
}

// fenceFlag is --fence LOCK:TOKEN.
type fenceFlag struct {
	lock  string
	token uint64
}

func (f *fenceFlag) Set(s string) error {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return fmt.Errorf("want LOCK:TOKEN, got %q", s)
	}
	token, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || token == 0 {
		return fmt.Errorf("want LOCK:TOKEN with a token from 1 up, got %q", s)
	}
	f.lock, f.token = s[:i], token
	return nil
}

func (f *fenceFlag) String() string {
	if f.lock == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", f.lock, f.token)
}

func (f *fenceFlag) Type() string { return "LOCK:TOKEN" }

// changeFlags are the flags of serial put, delete and incr.
type changeFlags struct {
	clientFlags
	fence fenceFlag
}

func (f *changeFlags) register(cmd *cobra.Command) {
	f.clientFlags.register(cmd)
	cmd.Flags().Var(&f.fence, "fence", "fence the change with a lock's token (refused when the register has seen a newer token of that lock)")
}

func (f *changeFlags) options() []client.SerialOption {
	if f.fence.lock == "" {
		return nil
	}
	return []client.SerialOption{client.WithFence(f.fence.lock, f.fence.token)}
}

// change runs a register change and prints the register after it (its
// current state when the change was refused for its condition).
func (f *changeFlags) change(cmd *cobra.Command, key string, do func(context.Context, *client.Client) (*client.SerialResult, error)) error {
	return f.with(func(ctx context.Context, c *client.Client) error {
		res, err := do(ctx, c)
		if err != nil && !errors.Is(err, client.ErrConditionFailed) {
			return serialErr(registerName(key), err)
		}
		out := serialChangeOutput{Key: key, Applied: res.Applied, Version: res.Version, Value: string(res.Value)}
		if perr := printSerialChange(cmd.OutOrStdout(), f.output, out, res.Found); perr != nil {
			return perr
		}
		return err
	})
}

func printSerialChange(w io.Writer, format string, out serialChangeOutput, found bool) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := fmt.Sprintf("version %d, value %s", out.Version, out.Value)
	if !found {
		state = fmt.Sprintf("version %d, absent", out.Version)
	}
	if out.Applied {
		fprintf(tw, "ok\t%s\n", state)
	} else {
		fprintf(tw, "not applied\t%s\n", state)
	}
	return tw.Flush()
}

func newSerialPutCmd() *cobra.Command {
	var f changeFlags
	var expectVersion uint64
	var expectAbsent bool
	cmd := &cobra.Command{
		Use:   "put KEY VALUE",
		Short: "Set a register, if its version is V (--expect-version) or it is absent (--expect-absent)",
		Args:  exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cond client.Condition
			switch versioned := cmd.Flags().Changed("expect-version"); {
			case versioned && expectAbsent:
				return usagef("--expect-version and --expect-absent exclude each other")
			case versioned:
				cond = client.ExpectVersion(expectVersion)
			case expectAbsent:
				cond = client.ExpectAbsent()
			}
			return f.change(cmd, args[0], func(ctx context.Context, c *client.Client) (*client.SerialResult, error) {
				return c.CompareAndSet(ctx, []byte(args[0]), []byte(args[1]), cond, f.options()...)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().Uint64Var(&expectVersion, "expect-version", 0, "set only if the register's version is V (0: never written)")
	cmd.Flags().BoolVar(&expectAbsent, "expect-absent", false, "set only if the register holds no value")
	return cmd
}

func newSerialDeleteCmd() *cobra.Command {
	var f changeFlags
	var expectVersion uint64
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a register (its version still counts the delete), if its version is V (--expect-version)",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var cond client.Condition
			if cmd.Flags().Changed("expect-version") {
				cond = client.ExpectVersion(expectVersion)
			}
			return f.change(cmd, args[0], func(ctx context.Context, c *client.Client) (*client.SerialResult, error) {
				return c.SerialDelete(ctx, []byte(args[0]), cond, f.options()...)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().Uint64Var(&expectVersion, "expect-version", 0, "delete only if the register's version is V")
	return cmd
}

func newSerialIncrCmd() *cobra.Command {
	var f changeFlags
	var by int64
	cmd := &cobra.Command{
		Use:   "incr KEY",
		Short: "Add to a register holding a decimal integer (absent counts as 0)",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if by == 0 {
				return usagef("--by 0 changes nothing")
			}
			return f.change(cmd, args[0], func(ctx context.Context, c *client.Client) (*client.SerialResult, error) {
				return c.Increment(ctx, []byte(args[0]), by, f.options()...)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().Int64Var(&by, "by", 1, "the amount to add (negative subtracts)")
	return cmd
}

// nothingApplied is a register or lock request that reached no node, or a
// read that failed on every node: definite, exit 3.
type nothingApplied struct{ err error }

func (e nothingApplied) Error() string { return e.err.Error() }
func (e nothingApplied) Unwrap() error { return e.err }

// serialErr names the register or lock (what, e.g. `register "k"`) in a
// request's failure and sorts it for the exit code. The client reports a
// change that may have run on a failed node as ErrOutcomeUnknown, so a
// node failure left here is definite.
func serialErr(what string, err error) error {
	var ne *client.NodeError
	switch {
	case errors.Is(err, client.ErrOutcomeUnknown):
		return fmt.Errorf("%s: %w; it may have applied", what, err)
	case errors.As(err, &ne):
		return nothingApplied{fmt.Errorf("%s: nothing applied: %w", what, err)}
	}
	return err
}

func registerName(key string) string { return fmt.Sprintf("register %q", key) }

func lockName(name string) string { return fmt.Sprintf("lock %q", name) }
