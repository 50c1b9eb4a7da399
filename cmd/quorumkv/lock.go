package main

import (
	"context"
	"errors"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// The lock commands run lock requests (service quorumkv.v1.Locks). A lock
// acquired here is not renewed once the command exits: it stays held until
// its ttl passes, `lock renew` renews it, or `lock release` frees it.

func newLockCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Locks with fencing tokens: acquire, renew, release, describe",
		Long: `Locks with fencing tokens. A grant's token strictly increases per lock name,
forever; pass it to serial put/delete/incr --fence NAME:TOKEN and the store
refuses the write once a newer token of the lock exists. A lock acquired here
is not renewed after the command exits: it is held until its ttl passes,
"lock renew" renews it, or "lock release" frees it.

Exit codes: 0 acquired (renewed, released), 3 nothing applied (quorum not
reached, contention, or no node reached), 5 held by another holder, or the
token no longer holds the lock (stdout carries the holder), 6 outcome unknown.`,
	}
	cmd.AddCommand(newLockAcquireCmd(), newLockRenewCmd(), newLockReleaseCmd(), newLockDescribeCmd())
	return cmd
}

// acquireOutput is lock acquire's JSON: the grant, or the holder that has
// the lock.
type acquireOutput struct {
	Name         string `json:"name"`
	Acquired     bool   `json:"acquired"`
	Token        uint64 `json:"token"`
	TTLms        int64  `json:"ttl_ms"`
	HeldBy       string `json:"held_by"`
	RetryAfterMs int64  `json:"retry_after_ms,omitempty"`
}

// lockState is a lock's state as lock renew, release and describe print
// it.
type lockState struct {
	Name     string `json:"name"`
	Held     bool   `json:"held"`
	HeldBy   string `json:"held_by"`
	Token    uint64 `json:"token"`
	TTLms    int64  `json:"ttl_ms"`
	Renewals uint64 `json:"renewals"`
}

func lockStateOf(info *client.LockInfo) lockState {
	return lockState{Name: info.Name, Held: info.Held, HeldBy: info.HeldBy, Token: info.Token,
		TTLms: info.TTL.Milliseconds(), Renewals: info.Renewals}
}

// lockChangeOutput is the JSON of lock renew and release.
type lockChangeOutput struct {
	lockState
	Applied bool `json:"applied"`
}

func newLockAcquireCmd() *cobra.Command {
	var cf clientFlags
	var holder string
	var ttl, wait time.Duration
	cmd := &cobra.Command{
		Use:   "acquire NAME --holder ID --ttl D [--wait D]",
		Short: "Acquire a lock for a ttl; prints its fencing token",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case holder == "":
				return usagef("--holder is required")
			case ttl <= 0:
				return usagef("--ttl must be positive, got %v", ttl)
			case wait < 0:
				return usagef("--wait must not be negative, got %v", wait)
			}
			cf.timeout += wait // the request waits for the lock, then answers
			return cf.with(func(ctx context.Context, c *client.Client) error {
				out := acquireOutput{Name: args[0]}
				lease, err := c.Acquire(ctx, args[0], holder, ttl, client.WaitFor(wait))
				var held *client.LockHeldError
				switch {
				case errors.As(err, &held):
					out.HeldBy, out.Token, out.RetryAfterMs = held.HeldBy, held.Token, held.RetryAfter.Milliseconds()
				case err != nil:
					return serialErr(lockName(args[0]), err)
				default:
					out.Acquired, out.Token, out.TTLms, out.HeldBy = true, lease.Token(), lease.TTL().Milliseconds(), holder
				}
				if perr := printAcquire(cmd.OutOrStdout(), cf.output, out); perr != nil {
					return perr
				}
				return err
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&holder, "holder", "", "who holds the lock (required)")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the lock is held without a renewal (required, whole milliseconds)")
	cmd.Flags().DurationVar(&wait, "wait", 0, "keep trying this long while another holder has the lock")
	return cmd
}

func printAcquire(w io.Writer, format string, out acquireOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if out.Acquired {
		fprintf(tw, "acquired\ttoken %d, ttl %v\n", out.Token, time.Duration(out.TTLms)*time.Millisecond)
	} else {
		fprintf(tw, "held\tby %s, token %d (retry after %v)\n", out.HeldBy, out.Token, time.Duration(out.RetryAfterMs)*time.Millisecond)
	}
	return tw.Flush()
}

// tokenFlags are the flags of lock renew and release.
type tokenFlags struct {
	clientFlags
	token uint64
}

func (f *tokenFlags) register(cmd *cobra.Command) {
	f.clientFlags.register(cmd)
	cmd.Flags().Uint64Var(&f.token, "token", 0, "the token the lock was acquired with (required)")
}

// run renews or releases the lock with the token and prints its state.
func (f *tokenFlags) run(cmd *cobra.Command, name, verb string, do func(*client.Client, context.Context, string, uint64) (*client.LockInfo, error)) error {
	if f.token == 0 {
		return usagef("--token is required (tokens start at 1)")
	}
	return f.with(func(ctx context.Context, c *client.Client) error {
		info, err := do(c, ctx, name, f.token)
		if err != nil && !errors.Is(err, client.ErrLockLost) {
			return serialErr(lockName(name), err)
		}
		out := lockChangeOutput{lockState: lockStateOf(info), Applied: err == nil}
		if perr := printLockChange(cmd.OutOrStdout(), f.output, verb, out); perr != nil {
			return perr
		}
		return err
	})
}

func printLockChange(w io.Writer, format, verb string, out lockChangeOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	switch {
	case out.Applied:
		fprintf(tw, "%s\ttoken %d\n", verb, out.Token)
	case out.Held:
		fprintf(tw, "lost\theld by %s, token %d\n", out.HeldBy, out.Token)
	default:
		fprintf(tw, "lost\tfree, last token %d\n", out.Token)
	}
	return tw.Flush()
}

func newLockRenewCmd() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "renew NAME --token T",
		Short: "Renew a lock held with token T for another ttl",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0], "renewed", (*client.Client).RenewLock)
		},
	}
	f.register(cmd)
	return cmd
}

func newLockReleaseCmd() *cobra.Command {
	var f tokenFlags
	cmd := &cobra.Command{
		Use:   "release NAME --token T",
		Short: "Release a lock held with token T",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.run(cmd, args[0], "released", (*client.Client).ReleaseLock)
		},
	}
	f.register(cmd)
	return cmd
}

func newLockDescribeCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "describe NAME",
		Short: "Read a lock linearizably: its holder, token, ttl and renewals",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				info, err := c.DescribeLock(ctx, args[0])
				if err != nil {
					return serialErr(lockName(args[0]), err)
				}
				out := lockStateOf(info)
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				if out.Held {
					fprintf(tw, "held\tby %s, token %d, ttl %v, %d renewals\n", out.HeldBy, out.Token, info.TTL, out.Renewals)
				} else {
					fprintf(tw, "free\tlast token %d\n", out.Token)
				}
				return tw.Flush()
			})
		},
	}
	cf.register(cmd)
	return cmd
}
