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

// The lease commands run lease requests (service quorumkv.v1.Leases).

func newLeaseCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lease",
		Short: "Leases: grant, keepalive, revoke, show (keys written with put --lease)",
		Long: `Leases are soft state with a ttl. Keys written with "put KEY VALUE --lease ID"
are deleted when the lease expires (no keep-alive for its ttl plus a grace,
counted on each replica's own clock) or is revoked. Any node serves any lease
request. A node that sees no majority of members up expires nothing.

Exit codes: 0 ok, 3 no replica of the lease answered, 4 lease not found
(expired, revoked or never granted).`,
	}
	cmd.AddCommand(newLeaseGrantCmd(), newLeaseKeepAliveCmd(), newLeaseRevokeCmd(), newLeaseShowCmd())
	return cmd
}

// leaseOutput is the JSON of lease grant, keepalive and show.
type leaseOutput struct {
	Lease       string   `json:"lease"`
	TTLms       int64    `json:"ttl_ms"`
	Acks        int      `json:"acks,omitempty"`
	RemainingMs *int64   `json:"remaining_ms,omitempty"`
	Keys        []string `json:"keys,omitempty"`
}

func leaseOutputOf(info *client.LeaseInfo) leaseOutput {
	return leaseOutput{Lease: info.ID.String(), TTLms: info.TTL.Milliseconds(), Acks: info.Acks}
}

func printLease(w io.Writer, format, verb string, out leaseOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "%s\t%s, ttl %v", verb, out.Lease, time.Duration(out.TTLms)*time.Millisecond)
	if out.RemainingMs != nil {
		fprintf(tw, ", %v left", time.Duration(*out.RemainingMs)*time.Millisecond)
	}
	if out.Acks > 0 {
		fprintf(tw, ", %d replicas", out.Acks)
	}
	fprintf(tw, "\n")
	for _, k := range out.Keys {
		fprintf(tw, "key\t%s\n", k)
	}
	return tw.Flush()
}

func parseLease(s string) (client.LeaseID, error) {
	id, err := client.ParseLeaseID(s)
	if err != nil {
		return 0, usageError{err}
	}
	return id, nil
}

func newLeaseGrantCmd() *cobra.Command {
	var cf clientFlags
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "grant --ttl D",
		Short: "Grant a lease; prints its id",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ttl <= 0 {
				return usagef("--ttl is required and must be positive, got %v", ttl)
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				info, err := c.GrantLease(ctx, ttl)
				if err != nil {
					return err
				}
				return printLease(cmd.OutOrStdout(), cf.output, "granted", leaseOutputOf(info))
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "how long the lease lives without a keep-alive (500ms to 24h, whole milliseconds)")
	return cmd
}

func newLeaseKeepAliveCmd() *cobra.Command {
	var cf clientFlags
	var every time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "keepalive ID",
		Short: "Keep a lease alive in the foreground (every ttl/3) until interrupted",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLease(args[0])
			if err != nil {
				return err
			}
			c, ctx, done, err := cf.foreground()
			if err != nil {
				return err
			}
			defer done()
			return keepAliveLoop(ctx, cmd.OutOrStdout(), c, cf, id, every, once)
		},
	}
	cf.register(cmd)
	cmd.Flags().DurationVar(&every, "every", 0, "time between keep-alives (default: the lease's ttl / 3)")
	cmd.Flags().BoolVar(&once, "once", false, "renew once and exit")
	return cmd
}

// keepAliveLoop renews id until ctx ends, printing each renewal; a lease
// found gone ends it with the error (exit 4). A renewal that fails
// otherwise is retried at the next tick.
func keepAliveLoop(ctx context.Context, w io.Writer, c *client.Client, cf clientFlags, id client.LeaseID, every time.Duration, once bool) error {
	for {
		rctx, cancel := context.WithTimeout(ctx, cf.timeout)
		info, err := c.KeepAliveLease(rctx, id)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, client.ErrLeaseNotFound) || (err != nil && once):
			return err
		case err != nil:
			fprintf(w, "keep-alive failed: %v\n", err)
		default:
			if perr := printLease(w, cf.output, "renewed", leaseOutputOf(info)); perr != nil {
				return perr
			}
			if every == 0 {
				every = max(100*time.Millisecond, info.TTL/3)
			}
		}
		if once {
			return nil
		}
		wait := every
		if wait == 0 {
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

func newLeaseRevokeCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a lease: delete it and every key attached to it now",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLease(args[0])
			if err != nil {
				return err
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				n, err := c.RevokeLease(ctx, id)
				if err != nil {
					return err
				}
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"lease": id.String(), "revoked": true, "keys": n})
				}
				fprintf(cmd.OutOrStdout(), "revoked\t%s, %d keys deleted\n", id, n)
				return nil
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newLeaseShowCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a lease: its ttl, the time left and its keys",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseLease(args[0])
			if err != nil {
				return err
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				info, err := c.ShowLease(ctx, id)
				if err != nil {
					return err
				}
				out := leaseOutputOf(info)
				left := info.Remaining.Milliseconds()
				out.RemainingMs, out.Keys = &left, strs(info.Keys)
				return printLease(cmd.OutOrStdout(), cf.output, "lease", out)
			})
		},
	}
	cf.register(cmd)
	return cmd
}
