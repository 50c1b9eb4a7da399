package main

import (
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/security"
)

func newCertCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cert",
		Short: "Create the certificates of a secure cluster: a CA, node and client certificates",
		Long: `Create the certificates of a secure cluster (ECDSA P-256), as CockroachDB's cert commands do:

  quorumkv cert create-ca --dir certs
  quorumkv cert create-node --id n1 --host 127.0.0.1,localhost --dir certs
  quorumkv cert create-client --name root --admin --dir certs

A node certificate serves the node's port and identifies it to the other
nodes; a client certificate may read and write data; an admin client
certificate (--admin) may also change the ring (leave, remove, commit,
repair, gossip keys). Existing files are never overwritten. Keep ca.key
away from the nodes: only these commands need it.`,
	}
	cmd.AddCommand(newCertCreateCACmd(), newCertCreateNodeCmd(), newCertCreateClientCmd())
	return cmd
}

func newCertCreateCACmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "create-ca",
		Short: "Create a CA certificate and key (ca.crt, ca.key)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := security.CreateCA(dir, time.Now()); err != nil {
				return err
			}
			fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, security.CACertFile), filepath.Join(dir, security.CAKeyFile))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "directory to write to")
	return cmd
}

func newCertCreateNodeCmd() *cobra.Command {
	var dir, caDir, id string
	var hosts []string
	cmd := &cobra.Command{
		Use:   "create-node",
		Short: "Create node ID's certificate for the given hosts (node.ID.crt, node.ID.key)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" || len(hosts) == 0 {
				return usagef("--id and --host are required")
			}
			if err := security.CreateNode(caDirOr(caDir, dir), dir, id, hosts, time.Now()); err != nil {
				return err
			}
			fprintf(cmd.OutOrStdout(), "wrote %s and %s\n", filepath.Join(dir, security.NodeCertFile(id)), filepath.Join(dir, security.NodeKeyFile(id)))
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "directory to write to")
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (default: --dir)")
	cmd.Flags().StringVar(&id, "id", "", "the node's id (its --id)")
	cmd.Flags().StringSliceVar(&hosts, "host", nil, "names and IP addresses the node is reached at (comma-separated)")
	return cmd
}

func newCertCreateClientCmd() *cobra.Command {
	var dir, caDir, name string
	var admin bool
	cmd := &cobra.Command{
		Use:   "create-client",
		Short: "Create client NAME's certificate (client.NAME.crt, client.NAME.key)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usagef("--name is required")
			}
			if err := security.CreateClient(caDirOr(caDir, dir), dir, name, admin, time.Now()); err != nil {
				return err
			}
			role := "client"
			if admin {
				role = "admin client"
			}
			fprintf(cmd.OutOrStdout(), "wrote %s and %s (%s)\n", filepath.Join(dir, security.ClientCertFile(name)), filepath.Join(dir, security.ClientKeyFile(name)), role)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "certs", "directory to write to")
	cmd.Flags().StringVar(&caDir, "ca-dir", "", "directory holding ca.crt and ca.key (default: --dir)")
	cmd.Flags().StringVar(&name, "name", "", "the client's name")
	cmd.Flags().BoolVar(&admin, "admin", false, "an admin certificate: may also change the ring and the cluster")
	return cmd
}

func caDirOr(caDir, dir string) string {
	if caDir != "" {
		return caDir
	}
	return dir
}
