package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/security"
)

// demoReadyTimeout bounds the wait for the demo's ring to form.
const demoReadyTimeout = time.Minute

func newDemoCmd() *cobra.Command {
	var nodes, replicas int
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local cluster in one process (gRPC on 127.0.0.1:7101…, gossip on 7201…)",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nodes < 1 || nodes > 99 {
				return usagef("--nodes must be between 1 and 99, got %d", nodes)
			}
			logger, err := newLogger(cmd.ErrOrStderr(), logLevel, "text")
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return runDemo(ctx, cmd.OutOrStdout(), nodes, min(replicas, nodes), func(cfg *node.Config) { cfg.Logger = logger })
		},
	}
	cmd.Flags().IntVar(&nodes, "nodes", 3, "number of nodes")
	cmd.Flags().IntVar(&replicas, "replicas", node.DefaultReplicas, "replicas per key (capped at --nodes)")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "log level: debug, info, warn or error")
	return cmd
}

// runDemo starts the nodes, prints the endpoints and serves until ctx ends.
func runDemo(ctx context.Context, w io.Writer, count, replicas int, tune func(*node.Config)) (err error) {
	dir, err := os.MkdirTemp("", "quorumkv-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var started []*node.Node
	defer func() {
		for i := len(started) - 1; i >= 0; i-- {
			err = errors.Join(err, started[i].Stop(context.Background()))
		}
	}()
	setServerProcs()
	var endpoints []string
	for i := 1; i <= count; i++ {
		cfg := node.LocalConfig()
		cfg.ID, cfg.DataDir = fmt.Sprintf("n%d", i), filepath.Join(dir, fmt.Sprintf("n%d", i))
		cfg.Listen, cfg.Gossip = fmt.Sprintf("127.0.0.1:%d", 7100+i), fmt.Sprintf("127.0.0.1:%d", 7200+i)
		cfg.HTTP, cfg.HTTPDerived = fmt.Sprintf("127.0.0.1:%d", 7300+i), true
		cfg.Replicas = replicas
		if i > 1 {
			cfg.Join = []string{"127.0.0.1:7201"}
		}
		tune(&cfg)
		n, err := node.Start(cfg)
		if err != nil {
			return fmt.Errorf("starting %s: %w", cfg.ID, err)
		}
		started = append(started, n)
		endpoints = append(endpoints, n.Addr())
	}
	// The same readiness as `quorumkv ring wait --members count`.
	wctx, cancel := context.WithTimeout(ctx, demoReadyTimeout)
	_, err = waitRingReady(wctx, endpoints, count, security.Files{})
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("the demo ring is not ready after %v: %w", demoReadyTimeout, err)
	}
	fprintf(w, "quorumkv demo: %d nodes, %d replicas per key, data in %s\n", count, replicas, dir)
	fprintf(w, "endpoints: %s\n", strings.Join(endpoints, ","))
	var admin []string
	for _, n := range started {
		if a := n.HTTPAddr(); a != "" {
			admin = append(admin, "http://"+a)
		}
	}
	if len(admin) > 0 {
		fprintf(w, "admin:     %s (/metrics, /livez, /readyz)\n", strings.Join(admin, " "))
	}
	fprintf(w, "try:       quorumkv put greeting hello && quorumkv get greeting\n")
	fprintf(w, "serving until interrupted (Ctrl-C)\n")
	<-ctx.Done()
	fprintf(w, "stopping\n")
	return nil
}
