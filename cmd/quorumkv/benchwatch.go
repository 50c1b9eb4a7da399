package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/bench"
)

func newBenchWatchCmd() *cobra.Command {
	var driver, group, output, conns string
	var endpoints []string
	var watchers int
	var rate float64
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "watch [--driver quorumkv|etcd] [--watchers 100] [--rate 100] [--duration 10s] [--watcher-conns own|shared]",
		Short: "Measure watch latency: from a put to its event at every watcher",
		Long: `Start --watchers watches of one key group (etcd: one key prefix), then put a
new key of the group --rate times a second for --duration. Each value carries
the time its put started; every watcher's event gives the latency from then.
Each watcher has a client (connections) of its own, as independent services
watching a registry do (--watcher-conns own), or all share the writer's
(--watcher-conns shared). Reports the events seen (and missing) and their
latency percentiles.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			if watchers < 1 || rate <= 0 || duration <= 0 {
				return usagef("--watchers, --rate and --duration must be positive")
			}
			if len(endpoints) == 0 {
				endpoints = []string{defaultEndpoints[driver]}
			}
			if conns != "own" && conns != "shared" {
				return usagef("--watcher-conns %q: want own or shared", conns)
			}
			open := func() (bench.Driver, error) {
				switch driver {
				case "quorumkv":
					return bench.NewQuorumkv(bench.QuorumkvOptions{Endpoints: endpoints})
				case "etcd":
					return bench.NewEtcd(bench.EtcdOptions{Endpoints: endpoints})
				}
				return nil, usagef("--driver %q: want quorumkv or etcd", driver)
			}
			w, err := open()
			if err != nil {
				return err
			}
			defer w.Close()
			d := w.(bench.WatchDriver)
			var own []bench.WatchDriver
			if conns == "own" {
				for range watchers {
					o, err := open()
					if err != nil {
						return err
					}
					defer o.Close()
					own = append(own, o.(bench.WatchDriver))
				}
			}
			if group == "" {
				group = fmt.Sprintf("bw-%d", time.Now().UnixNano())
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			wcfg := bench.WatchConfig{Watchers: watchers, Rate: rate, Duration: duration, Group: group}
			if own != nil {
				wcfg.WatcherDriver = func(i int) bench.WatchDriver { return own[i] }
			}
			rep, err := bench.RunWatch(ctx, wcfg, d)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			fprintf(cmd.OutOrStdout(), "%s, %d watchers, %d puts at %.0f/s: %d events, %d missing, %d put errors\n",
				driver, rep.Watchers, rep.Puts, rep.Rate, rep.Events, rep.Missing, rep.PutErrors)
			fprintf(cmd.OutOrStdout(), "put to event: p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms\n",
				rep.LatencyMs.P50, rep.LatencyMs.P99, rep.LatencyMs.P999, rep.LatencyMs.Max)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&driver, "driver", "quorumkv", "store: quorumkv or etcd")
	fl.StringSliceVar(&endpoints, "endpoints", nil, "addresses (default per driver)")
	fl.IntVar(&watchers, "watchers", 100, "concurrent watches")
	fl.Float64Var(&rate, "rate", 100, "puts per second")
	fl.DurationVar(&duration, "duration", 10*time.Second, "how long to put")
	fl.StringVar(&group, "group", "", "the key group (etcd: prefix) (default: a fresh one)")
	fl.StringVar(&conns, "watcher-conns", "own", "own: a client per watcher; shared: every watcher on the writer's client")
	outputFlag(cmd, &output)
	return cmd
}
