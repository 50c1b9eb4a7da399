package main

import (
	"context"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

type hintTargetOutput struct {
	Target      string `json:"target"`
	Pending     uint64 `json:"pending"`
	Bytes       uint64 `json:"bytes"`
	OldestAgeMs uint64 `json:"oldest_age_ms"`
	Dropped     uint64 `json:"dropped"`
}

type hintHolderOutput struct {
	Node    string             `json:"node"`
	Enabled bool               `json:"enabled"`
	Pending uint64             `json:"hints_pending"`
	Targets []hintTargetOutput `json:"targets"`
	Error   string             `json:"error,omitempty"`
}

type hintsOutput struct {
	Holders []hintHolderOutput `json:"holders"`
	Pending uint64             `json:"hints_pending"`
}

func newHintsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "hints",
		Short: "Pending hinted-handoff hints per holder and target",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				st, err := c.RingStatus(ctx)
				if err != nil {
					return err
				}
				out := hintsOutput{Holders: collectHints(ctx, st, cf.tls.files())}
				for _, h := range out.Holders {
					out.Pending += h.Pending
				}
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return printHints(cmd.OutOrStdout(), out)
			})
		},
	}
	cf.register(cmd)
	return cmd
}

// collectHints asks every up member for its hints, in parallel.
func collectHints(ctx context.Context, st *api.RingStatusResponse, tls security.Files) []hintHolderOutput {
	out := make([]hintHolderOutput, len(st.GetMembers()))
	errs := eachMember(ctx, st, tls, func(ctx context.Context, i int, c *client.Client) error {
		resp, err := c.Hints(ctx)
		if err != nil {
			return err
		}
		out[i].Enabled, out[i].Pending = resp.GetEnabled(), resp.GetPending()
		for _, t := range resp.GetTargets() {
			out[i].Targets = append(out[i].Targets, hintTargetOutput{
				Target: t.GetTarget(), Pending: t.GetPending(), Bytes: t.GetBytes(),
				OldestAgeMs: t.GetOldestAgeMs(), Dropped: t.GetDropped(),
			})
		}
		return nil
	})
	for i, m := range st.GetMembers() {
		out[i].Node = m.GetId()
		if errs[i] != nil {
			out[i].Error = errs[i].Error()
		}
	}
	return out
}

func printHints(w io.Writer, out hintsOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "HOLDER\tTARGET\tPENDING\tBYTES\tOLDEST\tDROPPED\n")
	for _, h := range out.Holders {
		switch {
		case h.Error != "":
			fprintf(tw, "%s\t-\t?\t?\t?\t? (%s)\n", h.Node, h.Error)
		case !h.Enabled:
			fprintf(tw, "%s\t-\t-\t-\t-\t- (hinted handoff off)\n", h.Node)
		case len(h.Targets) == 0:
			fprintf(tw, "%s\t-\t0\t0\t-\t0\n", h.Node)
		}
		for _, t := range h.Targets {
			fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%d\n", h.Node, t.Target, t.Pending, t.Bytes,
				(time.Duration(t.OldestAgeMs) * time.Millisecond).String(), t.Dropped)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fprintf(w, "%d hints pending\n", out.Pending)
	return nil
}
