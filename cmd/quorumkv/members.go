package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

type moveOutput struct {
	Node     string `json:"node"`
	Gain     int    `json:"gain"`
	Lose     int    `json:"lose"`
	EstKeys  uint64 `json:"est_keys"`
	EstBytes uint64 `json:"est_bytes"`
}

type planOutput struct {
	Join             []string     `json:"join"`
	Leave            []string     `json:"leave"`
	Remove           []string     `json:"remove"`
	MembersBefore    []string     `json:"members_before"`
	MembersAfter     []string     `json:"members_after"`
	Moves            []moveOutput `json:"moves"`
	PartitionsMoving int          `json:"partitions_moving"`
	EstKeys          uint64       `json:"est_keys"`
	EstBytes         uint64       `json:"est_bytes"`
	Problems         []string     `json:"problems"`
	Applied          bool         `json:"applied"`
}

func planFromProto(p *api.PlanResponse) planOutput {
	out := planOutput{
		Join: p.GetJoin(), Leave: p.GetLeave(), Remove: p.GetRemove(),
		MembersBefore: p.GetMembersBefore(), MembersAfter: p.GetMembersAfter(),
		PartitionsMoving: int(p.GetPartitionsMoving()), EstKeys: p.GetEstKeys(), EstBytes: p.GetEstBytes(),
		Problems: p.GetProblems(), Applied: p.GetApplied(),
	}
	for _, m := range p.GetMoves() {
		out.Moves = append(out.Moves, moveOutput{Node: m.GetNode(), Gain: int(m.GetGain()), Lose: int(m.GetLose()), EstKeys: m.GetEstKeys(), EstBytes: m.GetEstBytes()})
	}
	return out
}

// printPlan writes a plan as riak-admin's `cluster plan` would.
func printPlan(w io.Writer, p planOutput, next string) error {
	for _, c := range []struct {
		verb string
		ids  []string
	}{{"join", p.Join}, {"leave", p.Leave}, {"remove", p.Remove}} {
		for _, id := range c.ids {
			fprintf(w, "%-7s %s\n", c.verb, id)
		}
	}
	if len(p.Join)+len(p.Leave)+len(p.Remove) == 0 {
		fprintf(w, "no staged changes\n")
		return nil
	}
	fprintf(w, "members: %s -> %s\n", strings.Join(p.MembersBefore, ","), strings.Join(p.MembersAfter, ","))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "NODE\tGAINS\tLOSES\tEST KEYS\tEST BYTES\n")
	for _, m := range p.Moves {
		fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", m.Node, m.Gain, m.Lose, m.EstKeys, humanBytes(m.EstBytes))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fprintf(w, "%d partitions move, about %d keys (%s)\n", p.PartitionsMoving, p.EstKeys, humanBytes(p.EstBytes))
	for _, pr := range p.Problems {
		fprintf(w, "WARNING: %s\n", pr)
	}
	switch {
	case p.Applied:
		fprintf(w, "applied: watch progress with `quorumkv ring transfers --watch`\n")
	case next != "":
		fprintf(w, "%s\n", next)
	}
	return nil
}

func humanBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

func newPlanCmd(name, short string, apply bool) *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   name,
		Short: short,
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				var resp *api.PlanResponse
				var err error
				if apply {
					resp, err = c.Commit(ctx)
				} else {
					resp, err = c.Plan(ctx)
				}
				if err != nil {
					return err
				}
				out := planFromProto(resp)
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return printPlan(cmd.OutOrStdout(), out, "apply with `quorumkv ring commit`")
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func newMemberChangeCmd(name, short string, remove bool) *cobra.Command {
	var cf clientFlags
	var ch client.MemberChange
	cmd := &cobra.Command{
		Use:   name + " --node ID",
		Short: short,
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if ch.Node == "" {
				return usagef("--node is required")
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				do := c.Leave
				if remove {
					do = c.Remove
				}
				resp, err := do(ctx, ch)
				if err != nil {
					return err
				}
				out := planFromProto(resp)
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return printPlan(cmd.OutOrStdout(), out, "dry run: nothing changed")
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().StringVar(&ch.Node, "node", "", "id of the member")
	cmd.Flags().BoolVar(&ch.Force, "force", false, "allow going below the replication factor (or removing a node that is up)")
	cmd.Flags().BoolVar(&ch.DryRun, "dry-run", false, "show the plan, change nothing")
	return cmd
}

type transferOutput struct {
	Node      string   `json:"node"`
	Partition int      `json:"partition"`
	Sources   []string `json:"sources"`
	State     string   `json:"state"`
	KeysMoved uint64   `json:"keys_moved"`
	Error     string   `json:"error,omitempty"`
	Since     string   `json:"since"`
}

// collectTransfers asks every up member for the partitions it is pulling.
func collectTransfers(ctx context.Context, st *api.RingStatusResponse, tls security.Files) []transferOutput {
	per := make([][]transferOutput, len(st.GetMembers()))
	eachMember(ctx, st, tls, func(ctx context.Context, i int, c *client.Client) error {
		resp, err := c.Transfers(ctx)
		if err != nil {
			return err
		}
		per[i] = transfersFromProto(resp)
		return nil
	})
	out := []transferOutput{}
	for _, ts := range per {
		out = append(out, ts...)
	}
	return out
}

func transfersFromProto(resp *api.TransfersResponse) []transferOutput {
	var out []transferOutput
	for _, t := range resp.GetTransfers() {
		out = append(out, transferOutput{
			Node: resp.GetNode(), Partition: int(t.GetPartition()), Sources: t.GetSources(), State: t.GetState(),
			KeysMoved: t.GetKeysMoved(), Error: t.GetError(),
			Since: time.UnixMilli(t.GetSinceUnixMs()).UTC().Format(time.RFC3339),
		})
	}
	return out
}

func newTransfersCmd() *cobra.Command {
	var cf clientFlags
	var watch bool
	var every time.Duration
	cmd := &cobra.Command{
		Use:   "transfers",
		Short: "Partitions moving between nodes, with progress",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for {
				c, ctx, cancel, err := cf.connect()
				if err != nil {
					return err
				}
				st, err := c.RingStatus(ctx)
				var ts []transferOutput
				if err == nil {
					ts = collectTransfers(ctx, st, cf.tls.files())
				}
				cancel()
				c.Close()
				if err != nil {
					return err
				}
				if err := printTransfers(cmd.OutOrStdout(), cf.output, ts); err != nil {
					return err
				}
				if !watch || len(ts) == 0 {
					return nil
				}
				time.Sleep(every)
			}
		},
	}
	cf.register(cmd)
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh until no transfer is left")
	cmd.Flags().DurationVar(&every, "interval", time.Second, "refresh interval with --watch")
	return cmd
}

func printTransfers(w io.Writer, format string, ts []transferOutput) error {
	if format == "json" {
		return writeJSON(w, struct {
			Transfers []transferOutput `json:"transfers"`
		}{ts})
	}
	if len(ts) == 0 {
		fprintf(w, "no transfers in progress\n")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fprintf(tw, "NODE\tPARTITION\tFROM\tSTATE\tKEYS MOVED\tSINCE\n")
	for _, t := range ts {
		state := t.State
		if t.Error != "" {
			state += " (" + t.Error + ")"
		}
		fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%s\n", t.Node, t.Partition, strings.Join(t.Sources, ","), state, t.KeysMoved, t.Since)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fprintf(w, "%d partitions moving\n", len(ts))
	return nil
}
