package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/internal/ringverdict"
	"github.com/quorumkv/quorumkv/security"
)

func newRingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ring",
		Short: "Inspect the ring: members, ownership, where keys live",
	}
	cmd.AddCommand(newRingStatusCmd(), newRingEndpointsCmd(),
		newPlanCmd("plan", "Show what admitting the nodes waiting to join would move", false),
		newPlanCmd("commit", "Admit the nodes waiting to join (they take their partitions, then serve)", true),
		newMemberChangeCmd("leave", "Decommission a member: hand its partitions off, then leave the ring", false),
		newMemberChangeCmd("remove", "Drop a dead member; the other replicas restore its data on the new owners", true),
		newTransfersCmd(),
		newRingWaitCmd(),
	)
	return cmd
}

type memberOutput struct {
	ID         string `json:"id"`
	Address    string `json:"address"`
	Zone       string `json:"zone,omitempty"`
	Status     string `json:"status"`
	State      string `json:"state"`
	Partitions int    `json:"partitions"`
	Owned      int    `json:"owned"`
	// HintsPending is how many hints this member holds (-1: unknown).
	HintsPending int64 `json:"hints_pending"`
	// LastExchange is when the member last completed an anti-entropy
	// exchange (RFC 3339, empty: never or unknown).
	LastExchange string `json:"last_exchange"`
	KeysRepaired uint64 `json:"keys_repaired"`
	// DiskFull: the member refuses writes to its own store (its disk is
	// full); DiskFullReason says why.
	DiskFull       bool   `json:"disk_full,omitempty"`
	DiskFullReason string `json:"disk_full_reason,omitempty"`
	// Repairing is how many partitions the member is refilling after it
	// lost data (a new incarnation); it answers no read for them yet.
	Repairing int `json:"repairing"`
	// Serial is the member's proposer of registers (absent: unknown).
	Serial *serialStatsOutput `json:"serial,omitempty"`
	// Leases is the member's expiry of leases (absent: unknown).
	Leases *leaseStatsOutput `json:"leases,omitempty"`
}

// leaseStatsOutput is a member's lease counters and expiry state.
type leaseStatsOutput struct {
	Held     uint64 `json:"held"`
	Renewals uint64 `json:"renewals"`
	Expired  uint64 `json:"expired"`
	Revoked  uint64 `json:"revoked"`
	Overdue  uint64 `json:"overdue"`
	// Frozen: self-preservation, the member sees no majority up and
	// expires nothing; Capped: due leases left for later by the caps.
	Frozen       bool   `json:"frozen"`
	FrozenSweeps uint64 `json:"frozen_sweeps"`
	Capped       uint64 `json:"capped"`
}

// serialStatsOutput is a member's register proposer counters.
type serialStatsOutput struct {
	Rounds     uint64 `json:"rounds"`
	FastRounds uint64 `json:"fast_rounds"`
	// FastShare is fast_rounds / rounds (0 without rounds).
	FastShare  float64 `json:"fast_share"`
	Retries    uint64  `json:"retries"`
	Ops        uint64  `json:"ops"`
	BatchedOps uint64  `json:"batched_ops"`
	Unknown    uint64  `json:"unknown"`
	Breaches   uint64  `json:"breaches"`
	// ReadsAtPrepare counts reads chosen at their prepare (no accept).
	ReadsAtPrepare uint64 `json:"reads_at_prepare"`
}

type statusOutput struct {
	Node       string           `json:"node"`
	Replicas   int              `json:"replicas"`
	Partitions int              `json:"partitions"`
	Epoch      uint64           `json:"epoch"` // the answering node's ring epoch
	Members    []memberOutput   `json:"members"`
	Transfers  []transferOutput `json:"transfers"`
	Verdict    string           `json:"verdict"`
}

func newRingStatusCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Members, address, up/down, partitions replicated",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				resp, err := c.RingStatus(ctx)
				if err != nil {
					return err
				}
				out := statusFromProto(resp)
				addNodeStatus(ctx, resp, out.Members, cf.tls.files())
				out.Transfers = collectTransfers(ctx, resp, cf.tls.files())
				out.Verdict = verdict(out.Members, out.Replicas, len(out.Transfers))
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				return printStatus(cmd.OutOrStdout(), out)
			})
		},
	}
	cf.register(cmd)
	return cmd
}

func statusFromProto(resp *api.RingStatusResponse) statusOutput {
	out := statusOutput{Node: resp.GetNode(), Replicas: int(resp.GetReplicas()), Partitions: int(resp.GetPartitions()), Epoch: resp.GetEpoch()}
	for _, m := range resp.GetMembers() {
		st := "down"
		if m.GetUp() {
			st = "up"
		}
		out.Members = append(out.Members, memberOutput{
			ID: m.GetId(), Address: m.GetAddress(), Zone: m.GetZone(), Status: st, State: m.GetState(),
			Partitions: int(m.GetPartitions()), Owned: int(m.GetOwned()),
		})
	}
	out.Verdict = verdict(out.Members, out.Replicas, 0)
	return out
}

// verdict is the one line under the status table, like riak-admin's,
// with the members whose disk is full (they take no writes); package
// ringverdict words it, so a node's admin page (/ring) says the same.
func verdict(members []memberOutput, n, transfers int) string {
	ms := make([]ringverdict.Member, len(members))
	for i, m := range members {
		ms[i] = ringverdict.Member{ID: m.ID, Up: m.Status == "up", State: m.State, DiskFull: m.DiskFull, Repairing: m.Repairing}
	}
	return ringverdict.Line(ms, n, transfers)
}

func printStatus(w io.Writer, out statusOutput) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	zoned := slices.ContainsFunc(out.Members, func(m memberOutput) bool { return m.Zone != "" })
	if zoned {
		fprintf(tw, "ID\tADDRESS\tZONE\tSTATUS\tSTATE\tPARTITIONS\tOWNED\tHINTS\tLAST EXCHANGE\tREPAIRED\n")
	} else {
		fprintf(tw, "ID\tADDRESS\tSTATUS\tSTATE\tPARTITIONS\tOWNED\tHINTS\tLAST EXCHANGE\tREPAIRED\n")
	}
	for _, m := range out.Members {
		pct := 0.0
		if out.Partitions > 0 {
			pct = 100 * float64(m.Owned) / float64(out.Partitions)
		}
		hints := "?"
		if m.HintsPending >= 0 {
			hints = fmt.Sprint(m.HintsPending)
		}
		last := m.LastExchange
		if last == "" {
			last = "never"
		}
		st := m.Status
		if m.DiskFull {
			st += ", disk full"
		}
		if m.Repairing > 0 {
			st += fmt.Sprintf(" (repairing %d)", m.Repairing)
		}
		if m.Leases != nil && m.Leases.Frozen {
			st += fmt.Sprintf(", lease expiry frozen (%d overdue)", m.Leases.Overdue)
		}
		addr := m.Address
		if zoned {
			addr += "\t" + cmp.Or(m.Zone, "-")
		}
		fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f%%\t%s\t%s\t%d\n", m.ID, addr, st, m.State, m.Partitions, pct, hints, last, m.KeysRepaired)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fprintf(w, "%s\n", out.Verdict)
	return nil
}

type endpointsOutput struct {
	Key       string   `json:"key"`
	Partition int      `json:"partition"`
	Replicas  []string `json:"replicas"`
	Addresses []string `json:"addresses"`
	Zones     []string `json:"zones,omitempty"`
}

func newRingEndpointsCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "endpoints KEY",
		Short: "Where a key lives: its partition and ordered preference list",
		Args:  exactArgs("KEY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return cf.with(func(ctx context.Context, c *client.Client) error {
				resp, err := c.Endpoints(ctx, []byte(args[0]))
				if err != nil {
					return err
				}
				out := endpointsOutput{Key: args[0], Partition: int(resp.GetPartition()), Replicas: resp.GetReplicas(), Addresses: resp.GetAddresses()}
				if slices.ContainsFunc(resp.GetZones(), func(z string) bool { return z != "" }) {
					out.Zones = resp.GetZones()
				}
				if cf.output == "json" {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fprintf(tw, "partition\t%d\n", out.Partition)
				for i, id := range out.Replicas {
					if i < len(out.Zones) {
						fprintf(tw, "replica %d\t%s\t%s\tzone %s\n", i+1, id, out.Addresses[i], cmp.Or(out.Zones[i], "-"))
						continue
					}
					fprintf(tw, "replica %d\t%s\t%s\n", i+1, id, out.Addresses[i])
				}
				return tw.Flush()
			})
		},
	}
	cf.register(cmd)
	return cmd
}

// addNodeStatus fills each member's hint backlog and anti-entropy progress
// from the member itself.
func addNodeStatus(ctx context.Context, st *api.RingStatusResponse, members []memberOutput, tls security.Files) {
	errs := eachMember(ctx, st, tls, func(ctx context.Context, i int, c *client.Client) error {
		ns, err := c.NodeStatus(ctx)
		if err != nil {
			return err
		}
		members[i].HintsPending = int64(ns.GetHintsPending())
		members[i].KeysRepaired = ns.GetKeysRepaired()
		members[i].DiskFull, members[i].DiskFullReason = ns.GetDiskFull(), ns.GetDiskFullReason()
		members[i].Repairing = int(ns.GetRepairingPartitions())
		if ss := ns.GetSerial(); ss != nil {
			out := &serialStatsOutput{Rounds: ss.GetRounds(), FastRounds: ss.GetFastRounds(), Retries: ss.GetRetries(),
				Ops: ss.GetOps(), BatchedOps: ss.GetBatchedOps(), Unknown: ss.GetUnknown(), Breaches: ss.GetBreaches(),
				ReadsAtPrepare: ss.GetReadsAtPrepare()}
			if out.Rounds > 0 {
				out.FastShare = float64(out.FastRounds) / float64(out.Rounds)
			}
			members[i].Serial = out
		}
		if ls := ns.GetLeases(); ls != nil {
			members[i].Leases = &leaseStatsOutput{Held: ls.GetHeld(), Renewals: ls.GetRenewals(), Expired: ls.GetExpired(),
				Revoked: ls.GetRevoked(), Overdue: ls.GetOverdue(), Frozen: ls.GetFrozen(), FrozenSweeps: ls.GetFrozenSweeps(), Capped: ls.GetCapped()}
		}
		if ms := ns.GetLastExchangeUnixMs(); ms > 0 {
			members[i].LastExchange = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
		return nil
	})
	for i, err := range errs {
		if err != nil {
			members[i].HintsPending = -1
		}
	}
}
