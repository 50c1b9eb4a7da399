package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/node"
)

func newGossipKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gossip-key",
		Short: "Create and rotate the keys that encrypt gossip, across the live cluster",
		Long: `Gossip between nodes is encrypted and authenticated with a shared key when the
servers are started with --gossip-key FILE (the file holds the key in base64).
A node without the key can neither join nor read gossip.

Rotate a key without downtime, as with Consul's keyring:

  quorumkv gossip-key generate > new.key
  quorumkv gossip-key install "$(cat new.key)"   # every member accepts it
  quorumkv gossip-key use "$(cat new.key)"       # every member encrypts with it
  quorumkv gossip-key remove "$(cat old.key)"    # every member drops the old one

Each step runs on every member that is up and fails (exit 1) if one did not
take it; run it again once that member is back. Keys installed this way are
kept in each node's data directory and win over --gossip-key at restart.
On a TLS cluster these commands need an admin client certificate.`,
	}
	cmd.AddCommand(newGossipKeyGenerateCmd())
	for _, op := range []node.GossipKeyOp{node.GossipKeyInstall, node.GossipKeyUse, node.GossipKeyRemove, node.GossipKeyList} {
		cmd.AddCommand(newGossipKeyOpCmd(op))
	}
	return cmd
}

func newGossipKeyGenerateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "generate",
		Short: "Print a new random gossip key (32 bytes, base64)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			k := make([]byte, 32)
			if _, err := rand.Read(k); err != nil {
				return err
			}
			fprintf(cmd.OutOrStdout(), "%s\n", base64.StdEncoding.EncodeToString(k))
			return nil
		},
	}
}

func gossipKeyShort(op node.GossipKeyOp) string {
	switch op {
	case node.GossipKeyInstall:
		return "Install KEY on every member (accepted, not yet used to encrypt)"
	case node.GossipKeyUse:
		return "Encrypt gossip with KEY on every member (install it first)"
	case node.GossipKeyRemove:
		return "Remove KEY from every member (not the one in use)"
	}
	return "List each member's keys (fingerprints, the one in use first)"
}

func newGossipKeyOpCmd(op node.GossipKeyOp) *cobra.Command {
	var cf clientFlags
	use, args := string(op)+" KEY", exactArgs("KEY")
	if op == node.GossipKeyList {
		use, args = string(op), exactArgs()
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: gossipKeyShort(op),
		Args:  args,
		RunE: func(cmd *cobra.Command, argv []string) error {
			var key []byte
			if op != node.GossipKeyList {
				k, err := node.ParseGossipKey(strings.TrimSpace(argv[0]))
				if err != nil {
					return usageError{err}
				}
				key = k
			}
			return cf.with(func(ctx context.Context, c *client.Client) error {
				st, err := c.RingStatus(ctx)
				if err != nil {
					return err
				}
				return gossipKeyEverywhere(ctx, cmd, st, cf, op, key)
			})
		},
	}
	cf.register(cmd)
	return cmd
}

// gossipKeyEverywhere runs op on every member and prints each answer.
func gossipKeyEverywhere(ctx context.Context, cmd *cobra.Command, st *api.RingStatusResponse, cf clientFlags, op node.GossipKeyOp, key []byte) error {
	out := make([]string, len(st.GetMembers()))
	errs := eachMember(ctx, st, cf.tls.files(), func(ctx context.Context, i int, c *client.Client) error {
		resp, err := c.GossipKey(ctx, string(op), key)
		if err == nil {
			out[i] = strings.Join(resp.GetKeys(), " ")
		}
		return err
	})
	var failed []string
	var first error
	for i, m := range st.GetMembers() {
		if errs[i] != nil {
			fprintf(cmd.OutOrStdout(), "%s\t%v\n", m.GetId(), errs[i])
			failed = append(failed, m.GetId())
			first = errors.Join(first, errs[i])
			continue
		}
		fprintf(cmd.OutOrStdout(), "%s\tok\t%s\n", m.GetId(), out[i])
	}
	if len(failed) > 0 {
		if denied(first) {
			return first
		}
		return fmt.Errorf("gossip-key %s did not reach %s: run it again once they are up", op, strings.Join(failed, ", "))
	}
	return nil
}

// denied reports a refusal for want of a certificate or role.
func denied(err error) bool {
	return errors.Is(err, client.ErrUnauthenticated) || errors.Is(err, client.ErrPermissionDenied)
}
