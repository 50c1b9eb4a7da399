package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// The service commands run registry requests (service quorumkv.v1.Registry).

func newServiceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Service discovery: register, list, watch, deregister instances",
		Long: `Service discovery on leases: an instance of service S is the key svc/{S}/<id>,
written with a lease, so it disappears when its registrant stops keeping the
lease alive. "service register" stays in the foreground keeping the instance
alive and deregisters it on SIGINT/SIGTERM (--once registers on a fresh lease
and exits). Any node serves any request.

Exit codes: 0 ok, 2 bad request, 3 unavailable.`,
	}
	cmd.AddCommand(newServiceRegisterCmd(), newServiceListCmd(), newServiceWatchCmd(), newServiceDeregisterCmd())
	return cmd
}

// instanceOutput is an instance as the service commands print it.
type instanceOutput struct {
	ID    string            `json:"id"`
	Addr  string            `json:"addr"`
	Meta  map[string]string `json:"meta"`
	Lease string            `json:"lease"`
}

// serviceOutput is service list's JSON (and each line of service watch).
type serviceOutput struct {
	Service   string           `json:"service"`
	Instances []instanceOutput `json:"instances"`
}

func serviceOutputOf(service string, ins []client.Instance) serviceOutput {
	out := serviceOutput{Service: service, Instances: []instanceOutput{}}
	for _, in := range ins {
		meta := in.Metadata
		if meta == nil {
			meta = map[string]string{}
		}
		out.Instances = append(out.Instances, instanceOutput{ID: in.ID, Addr: in.Address, Meta: meta, Lease: in.Lease.String()})
	}
	return out
}

func printService(w io.Writer, format string, out serviceOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "ID\tADDRESS\tLEASE\tMETADATA\n")
	for _, in := range out.Instances {
		var kv []string
		for k, v := range in.Meta {
			kv = append(kv, k+"="+v)
		}
		sort.Strings(kv)
		fprintf(tw, "%s\t%s\t%s\t%s\n", in.ID, in.Addr, in.Lease, strings.Join(kv, ","))
	}
	return tw.Flush()
}

func newServiceRegisterCmd() *cobra.Command {
	var cf clientFlags
	var id, addr string
	var meta []string
	var ttl time.Duration
	var once bool
	cmd := &cobra.Command{
		Use:   "register NAME --id ID --addr HOST:PORT [--meta k=v]... [--ttl D] [--once]",
		Short: "Register an instance and keep it alive until interrupted",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := client.Instance{ID: id, Address: addr, Metadata: map[string]string{}}
			for _, m := range meta {
				k, v, ok := strings.Cut(m, "=")
				if !ok || k == "" {
					return usagef("--meta %q: want key=value", m)
				}
				in.Metadata[k] = v
			}
			if id == "" || addr == "" {
				return usagef("--id and --addr are required")
			}
			if once {
				return cf.with(func(ctx context.Context, c *client.Client) error {
					info, err := c.RegisterOnce(ctx, args[0], in, ttl)
					if err != nil {
						return err
					}
					return printLease(cmd.OutOrStdout(), cf.output, "registered", leaseOutputOf(info))
				})
			}
			return registerForeground(cmd, cf, args[0], in, ttl)
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the instance's id, unique within the service (required)")
	cmd.Flags().StringVar(&addr, "addr", "", "the instance's address, host:port (required)")
	cmd.Flags().StringArrayVar(&meta, "meta", nil, "metadata key=value (repeatable)")
	cmd.Flags().DurationVar(&ttl, "ttl", 10*time.Second, "the lease's ttl: the instance disappears this long (plus a grace) after its keep-alives stop")
	cmd.Flags().BoolVar(&once, "once", false, "register on a fresh lease, print it and exit (keep it alive with lease keepalive)")
	return cmd
}

// registerForeground registers and keeps the instance alive until SIGINT
// or SIGTERM, then deregisters it.
func registerForeground(cmd *cobra.Command, cf clientFlags, service string, in client.Instance, ttl time.Duration) error {
	c, ctx, done, err := cf.foreground()
	if err != nil {
		return err
	}
	defer done()
	rctx, cancel := context.WithTimeout(ctx, cf.timeout)
	reg, err := c.Register(rctx, service, in, ttl)
	cancel()
	if err != nil {
		return err
	}
	if err := printLease(cmd.OutOrStdout(), cf.output, "registered", leaseOutput{Lease: reg.Lease().String(), TTLms: ttl.Milliseconds()}); err != nil {
		return err
	}
	<-ctx.Done()
	dctx, cancel := context.WithTimeout(context.Background(), cf.timeout)
	defer cancel()
	if err := reg.Close(dctx); err != nil {
		return fmt.Errorf("deregistering: %w", err)
	}
	if cf.output != "json" {
		fprintf(cmd.OutOrStdout(), "deregistered\t%s\n", in.ID)
	}
	return nil
}

func newServiceListCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "list NAME",
		Short: "List a service's live instances",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				ins, err := c.ListService(ctx, args[0])
				if err != nil {
					return err
				}
				return printService(cmd.OutOrStdout(), cf.output, serviceOutputOf(args[0], ins))
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newServiceWatchCmd() *cobra.Command {
	var cf clientFlags
	var count int
	cmd := &cobra.Command{
		Use:   "watch NAME",
		Short: "Print a service's instance set, then again after every change",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := cf.foreground()
			if err != nil {
				return err
			}
			defer done()
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			seen := 0
			return c.WatchService(ctx, args[0], func(ins []client.Instance) error {
				if err := printService(cmd.OutOrStdout(), cf.output, serviceOutputOf(args[0], ins)); err != nil {
					return err
				}
				if seen++; count > 0 && seen >= count {
					cancel()
				}
				return nil
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVar(&count, "count", 0, "exit after printing this many sets (0: until interrupted)")
	return cmd
}

func newServiceDeregisterCmd() *cobra.Command {
	var cf clientFlags
	var id string
	cmd := &cobra.Command{
		Use:   "deregister NAME --id ID",
		Short: "Remove an instance now",
		Args:  exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if id == "" {
				return usagef("--id is required")
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				found, err := c.Deregister(ctx, args[0], id)
				if err != nil {
					return err
				}
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"service": args[0], "id": id, "found": found})
				}
				fprintf(cmd.OutOrStdout(), "deregistered\t%s (was registered: %v)\n", id, found)
				return nil
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&id, "id", "", "the instance's id (required)")
	return cmd
}
