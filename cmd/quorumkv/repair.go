package main

import (
	"context"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/client"
)

type repairNodeOutput struct {
	Node               string `json:"node"`
	PartitionsCompared uint64 `json:"partitions_compared"`
	KeysRepaired       uint64 `json:"keys_repaired"`
	Errors             uint64 `json:"errors"`
	Error              string `json:"error,omitempty"`
}

type repairOutput struct {
	PartitionsCompared uint64             `json:"partitions_compared"`
	KeysRepaired       uint64             `json:"keys_repaired"`
	Errors             uint64             `json:"errors"`
	Truncated          bool               `json:"truncated"`
	Nodes              []repairNodeOutput `json:"nodes"`
}

func newRepairCmd() *cobra.Command {
	var cf clientFlags
	var partition int
	cmd := &cobra.Command{
		Use:   "repair",
		Short: "Run an anti-entropy round now across the cluster",
		Long: `repair asks every up member to compare its partitions' Merkle trees with the
other replicas now and to repair every key that differs (both ways). Equal
partitions cost one root comparison. Run it again if the output says truncated.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				st, err := c.RingStatus(ctx)
				if err != nil {
					return err
				}
				if partition < -1 || partition >= int(st.GetPartitions()) {
					return usagef("--partition %d out of range [0, %d)", partition, st.GetPartitions())
				}
				out := repairOutput{Nodes: make([]repairNodeOutput, len(st.GetMembers()))}
				errs := eachMember(ctx, st, cf.tls.files(), func(ctx context.Context, i int, c *client.Client) error {
					r, err := c.Repair(ctx, partition)
					if err != nil {
						return err
					}
					out.Nodes[i] = repairNodeOutput{PartitionsCompared: r.GetPartitionsCompared(), KeysRepaired: r.GetKeysRepaired(), Errors: r.GetErrors()}
					out.Truncated = out.Truncated || r.GetTruncated()
					return nil
				})
				for i, m := range st.GetMembers() {
					n := &out.Nodes[i]
					n.Node = m.GetId()
					if errs[i] != nil {
						n.Error = errs[i].Error()
						n.Errors++
					}
					out.PartitionsCompared += n.PartitionsCompared
					out.KeysRepaired += n.KeysRepaired
					out.Errors += n.Errors
				}
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fprintf(tw, "NODE\tPARTITIONS COMPARED\tKEYS REPAIRED\tERRORS\n")
				for _, n := range out.Nodes {
					fprintf(tw, "%s\t%d\t%d\t%d %s\n", n.Node, n.PartitionsCompared, n.KeysRepaired, n.Errors, n.Error)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fprintf(cmd.OutOrStdout(), "%d partitions compared, %d keys repaired, %d errors", out.PartitionsCompared, out.KeysRepaired, out.Errors)
				if out.Truncated {
					fprintf(cmd.OutOrStdout(), " (truncated: run repair again)")
				}
				fprintf(cmd.OutOrStdout(), "\n")
				return nil
			})
		},
	}
	cf.register(cmd)
	cmd.Flags().IntVar(&partition, "partition", -1, "repair only this partition")
	cmd.Flags().Lookup("timeout").DefValue = "10m"
	_ = cmd.Flags().Set("timeout", "10m")
	return cmd
}
