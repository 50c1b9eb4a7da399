package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	endpoints []string
	timeout   time.Duration
	output    string
	tls       tlsFlags
}

func (f *clientFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringSliceVar(&f.endpoints, "endpoints", []string{"127.0.0.1:7101"}, "comma-separated gRPC addresses of nodes (seeds)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Second, "request timeout")
	f.tls.register(cmd.Flags(), "", "the nodes (turns TLS on)", "this client presents (needed where nodes require client certificates, and an admin one for ring changes)")
	outputFlag(cmd, &f.output)
}

// with connects, runs fn under the request timeout, and closes.
func (f *clientFlags) with(fn func(ctx context.Context, c *client.Client) error) error {
	c, ctx, cancel, err := f.connect()
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close()
	return fn(ctx, c)
}

func (f *clientFlags) connect() (*client.Client, context.Context, context.CancelFunc, error) {
	c, err := f.newClient()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.timeout)
	return c, ctx, cancel, nil
}

// foreground connects for a command that runs until SIGINT or SIGTERM: the
// context ends on either; done stops listening and closes the client.
func (f *clientFlags) foreground() (c *client.Client, ctx context.Context, done func(), err error) {
	if c, err = f.newClient(); err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	return c, ctx, func() { stop(); _ = c.Close() }, nil
}

func (f *clientFlags) newClient() (*client.Client, error) {
	if err := checkOutput(f.output); err != nil {
		return nil, err
	}
	if err := f.tls.files().ValidateClient(); err != nil {
		return nil, tlsUsage(err)
	}
	return client.New(f.endpoints, client.WithAttemptTimeout(min(f.timeout, 5*time.Second)), client.WithTLS(f.tls.files()))
}

// consistencyFlags pick a request's consistency.
type consistencyFlags struct {
	level  string
	count  replicaCount
	strict bool
}

func (f *consistencyFlags) register(cmd *cobra.Command, countFlag string) {
	cmd.Flags().StringVar(&f.level, "consistency", "quorum", "consistency level: one, two, three, quorum or all")
	cmd.Flags().Var(&f.count, countFlag, "explicit number of replicas that must answer, 1 to N (overrides --consistency)")
	cmd.Flags().BoolVar(&f.strict, "strict", false, "do not count fallback replicas toward the quorum")
}

var levels = map[string]client.Level{
	"one": client.One, "two": client.Two, "three": client.Three, "quorum": client.Quorum, "all": client.All,
}

func (f *consistencyFlags) options() ([]client.CallOption, error) {
	lvl, ok := levels[strings.ToLower(f.level)]
	if !ok {
		return nil, usagef("unknown consistency level %q (want one, two, three, quorum or all)", f.level)
	}
	opts := []client.CallOption{client.WithLevel(lvl)}
	if f.count.n > 0 {
		opts = append(opts, client.WithCount(f.count.n))
	}
	if f.strict {
		opts = append(opts, client.WithStrict())
	}
	return opts, nil
}

type getOutput struct {
	Key      string   `json:"key"`
	Found    bool     `json:"found"`
	Values   []string `json:"values"`
	Context  string   `json:"context"`
	Replicas []string `json:"replicas,omitempty"`
}

func newGetCmd() *cobra.Command {
	var cf clientFlags
	var cons consistencyFlags
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Read a key: every live sibling and the causal context",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := cons.options()
			if err != nil {
				return err
			}
			c, ctx, cancel, err := cf.connect()
			if err != nil {
				return err
			}
			defer cancel()
			defer c.Close()
			res, err := c.Get(ctx, []byte(args[0]), opts...)
			if err != nil && !errors.Is(err, client.ErrNotFound) {
				return err
			}
			out := getOutput{Key: args[0], Found: res.Found, Values: strs(res.Values), Context: res.Context, Replicas: res.Info.Replicas}
			if perr := printGet(cmd.OutOrStdout(), cf.output, out); perr != nil {
				return perr
			}
			if err != nil {
				return fmt.Errorf("key %q: %w", args[0], err)
			}
			return nil
		},
	}
	cf.register(cmd)
	cons.register(cmd, "r")
	return cmd
}

func printGet(w io.Writer, format string, out getOutput) error {
	if format == "json" {
		return writeJSON(w, out)
	}
	if !out.Found {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, v := range out.Values {
		label := "value"
		if len(out.Values) > 1 {
			label = fmt.Sprintf("sibling %d", i+1)
		}
		fprintf(tw, "%s\t%s\n", label, v)
	}
	fprintf(tw, "context\t%s\n", out.Context)
	return tw.Flush()
}

type putOutput struct {
	Key     string   `json:"key"`
	Context string   `json:"context"`
	Acks    int      `json:"acks"`
	Values  []string `json:"values,omitempty"`
}

// writeFlags are the flags of put and delete.
type writeFlags struct {
	clientFlags
	cons    consistencyFlags
	context string
	blind   bool
	lease   string // put only
}

func (f *writeFlags) register(cmd *cobra.Command) {
	f.clientFlags.register(cmd)
	f.cons.register(cmd, "w")
	cmd.Flags().StringVar(&f.context, "context", "", "causal context token from an earlier get (default: read the key first and use its context)")
	cmd.Flags().BoolVar(&f.blind, "blind", false, "write without reading first: the value becomes a sibling of what is stored")
}

// write runs a put or delete. Without --context (and without --blind) it
// first reads the key at the same consistency and writes with the context it
// saw, so sequential writes overwrite and concurrent ones become siblings.
func (f *writeFlags) write(cmd *cobra.Command, key string, do func(context.Context, *client.Client, []client.CallOption) (*client.PutResult, error)) error {
	opts, err := f.cons.options()
	if err != nil {
		return err
	}
	if f.blind && f.context != "" {
		return usagef("--blind and --context exclude each other")
	}
	c, ctx, cancel, err := f.connect()
	if err != nil {
		return err
	}
	defer cancel()
	defer c.Close()
	token := f.context
	if token == "" && !f.blind {
		got, err := c.Get(ctx, []byte(key), opts...)
		if err != nil && !errors.Is(err, client.ErrNotFound) {
			return fmt.Errorf("reading the current context: %w", err)
		}
		token = got.Context
	}
	opts = append(opts, client.WithContext(token))
	if f.lease != "" {
		id, err := parseLease(f.lease)
		if err != nil {
			return err
		}
		opts = append(opts, client.WithLease(id))
	}
	res, err := do(ctx, c, opts)
	if err != nil {
		return err
	}
	out := putOutput{Key: key, Context: res.Context, Acks: res.Info.Acks, Values: strs(res.Values)}
	if f.output == "json" {
		return writeJSON(cmd.OutOrStdout(), out)
	}
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fprintf(tw, "ok\t%d/%d replicas acknowledged\n", res.Info.Acks, res.Info.Required)
	if len(res.Values) > 1 {
		fprintf(tw, "siblings\t%d (concurrent writes are kept; resolve with get and put --context)\n", len(res.Values))
	}
	fprintf(tw, "context\t%s\n", res.Context)
	return tw.Flush()
}

func newPutCmd() *cobra.Command {
	var f writeFlags
	cmd := &cobra.Command{
		Use:   "put KEY VALUE [--lease ID]",
		Short: "Write a value (attached to a lease with --lease)",
		Args:  exactArgs("KEY", "VALUE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.write(cmd, args[0], func(ctx context.Context, c *client.Client, opts []client.CallOption) (*client.PutResult, error) {
				return c.Put(ctx, []byte(args[0]), []byte(args[1]), opts...)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.lease, "lease", "", "attach the key to this lease (lease grant): it is deleted when the lease ends")
	return cmd
}

func newDeleteCmd() *cobra.Command {
	var f writeFlags
	cmd := &cobra.Command{
		Use:   "delete KEY",
		Short: "Delete a key (the values its context covers)",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.write(cmd, args[0], func(ctx context.Context, c *client.Client, opts []client.CallOption) (*client.PutResult, error) {
				return c.Delete(ctx, []byte(args[0]), opts...)
			})
		},
	}
	f.register(cmd)
	return cmd
}

func strs(bs [][]byte) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = string(b)
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}
