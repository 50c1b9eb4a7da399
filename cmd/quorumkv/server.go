package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/quorumkv/quorumkv/coordinator"
	"github.com/quorumkv/quorumkv/discovery"
	"github.com/quorumkv/quorumkv/httpadmin"
	"github.com/quorumkv/quorumkv/node"
	"github.com/quorumkv/quorumkv/peer"
	"github.com/quorumkv/quorumkv/replica"
	"github.com/quorumkv/quorumkv/security"
)

// serverFlags are the flags of `quorumkv server`.
type serverFlags struct {
	cfg           node.Config
	fsync         bool
	hinted        bool
	autoJoin      bool
	gossipProfile string
	logLevel      string
	logFormat     string
	// faults are the fault-injection flags (only in a faultinject build).
	faults faultFlags
	http   string
	// tls and peerTLS are the client port's and the peer traffic's files.
	tls, peerTLS      tlsFlags
	requireClientCert bool
	gossipKeyFile     string
	// discover is how peers are found besides --join: "" or "lan".
	discover string
}

func newServerCmd() *cobra.Command {
	var f serverFlags
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run one node",
		Example: `  quorumkv server --id n1 --data /var/lib/quorumkv/n1 --listen 127.0.0.1:7101 --gossip 127.0.0.1:7201
  quorumkv server --id n2 --data /var/lib/quorumkv/n2 --listen 127.0.0.1:7102 --gossip 127.0.0.1:7202 --join 127.0.0.1:7201
  quorumkv server --id "$POD_NAME" --data /data --listen "$POD_IP:7101" --gossip "$POD_IP:7201" --join dns:quorumkv.default.svc.cluster.local:7201 --bootstrap-expect 3
  quorumkv server --id n1 --data /var/lib/quorumkv/n1 --listen 192.168.1.11:7101 --gossip 192.168.1.11:7201 --discover lan --bootstrap-expect 3`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.cfg.ID, "id", "", "unique node id (required)")
	fl.StringVar(&f.cfg.DataDir, "data", "", "data directory (required)")
	fl.StringVar(&f.cfg.Listen, "listen", "127.0.0.1:7101", "gRPC listen address")
	fl.StringVar(&f.cfg.Gossip, "gossip", "127.0.0.1:7201", "gossip (memberlist) listen address")
	fl.StringVar(&f.http, "http", "auto", "admin HTTP address: /metrics, /livez, /readyz, /debug/pprof/ (auto: the --listen host, port + 200; off: none)")
	fl.StringVar(&f.cfg.DNS, "dns", "", "answer DNS queries (A, AAAA, SRV) for SERVICE.service.quorumkv. from the registry on this address, UDP and TCP (default: off)")
	fl.StringSliceVar(&f.cfg.Join, "join", nil, "seeds to join, comma-separated: gossip addresses host:port, dns:NAME:PORT (every A and AAAA record of NAME, at PORT) or dns+srv:NAME (every SRV record of NAME); names are resolved again at every re-join round")
	fl.StringVar(&f.cfg.DNSResolver, "dns-resolver", "", "DNS server (host:port) the dns: and dns+srv: seeds of --join are resolved with (default: the system's resolver)")
	fl.IntVar(&f.cfg.BootstrapExpect, "bootstrap-expect", 0, "form a new cluster once this many nodes (this one included) that all have seeds or --discover see each other: the smallest id founds it, the others join (0: only a node without seeds founds a cluster)")
	fl.StringVar(&f.discover, "discover", "", "find peers without seeds: lan (UDP multicast announcements on the local network; see --discover-addr)")
	fl.StringVar(&f.cfg.LAN.Group, "discover-addr", discovery.DefaultGroup, "multicast group (IPv4 address:port) of --discover lan")
	fl.StringVar(&f.cfg.LAN.Interface, "discover-interface", "", "network interface --discover lan announces and listens on (default: the one the system routes the group through)")
	fl.StringVar(&f.cfg.LAN.Cluster, "discover-cluster", discovery.DefaultCluster, "cluster name of --discover lan: nodes join only peers announcing the same name (and the same cluster constants)")
	f.tls.register(fl, "", "client certificates (with --tls-cert, the node speaks TLS only)", "this node serves its port with (and presents to other nodes unless --peer-tls-cert is given)")
	f.peerTLS.register(fl, "peer-", "other nodes (default: --tls-ca)", "this node presents to other nodes (default: --tls-cert)")
	fl.StringVar(&f.gossipKeyFile, "gossip-key", "", "file holding the gossip encryption key (base64 of 32 bytes, `quorumkv gossip-key generate`): gossip is encrypted and a node without the key cannot join")
	fl.BoolVar(&f.requireClientCert, "require-client-cert", false, "refuse clients without a certificate signed by --tls-ca (UNAUTHENTICATED)")
	fl.StringVar(&f.cfg.Advertise, "advertise", "", "host (or host:port) other nodes and clients reach this node at, e.g. a pod IP or DNS name when --listen is 0.0.0.0 (default: the --listen address; for 0.0.0.0, the IP gossip picks)")
	fl.StringVar(&f.cfg.Zone, "zone", "", "failure zone of this node (rack, availability zone): once the ring has N zones, every key's N replicas are in N distinct zones; fixed while the node is a member")
	fl.BoolVar(&f.autoJoin, "auto-join", true, "with --join, become a member by itself (false: wait for `quorumkv ring plan` / `ring commit`)")
	fl.IntVar(&f.cfg.Replicas, "replicas", node.DefaultReplicas, "replicas per key, N (cluster constant)")
	fl.IntVar(&f.cfg.Partitions, "partitions", node.DefaultPartitions, "number of partitions, Q (cluster constant)")
	fl.BoolVar(&f.fsync, "fsync", true, "fsync every write before acknowledging it (false trades durability for speed)")
	fl.DurationVar(&f.cfg.SyncWindow, "fsync-window", replica.DefaultSyncWindow, "least time between two fsyncs: writes arriving within it share one fsync (group commit; 0 syncs at once)")
	fl.Int64Var(&f.cfg.CacheSize, "cache-size", replica.DefaultCacheSize, "storage engine block cache, in bytes (every write reads its key first: keep the hot blocks here)")
	fl.Int64Var(&f.cfg.KeyFilterSize, "key-filter-size", replica.DefaultKeyFilterSize, "memory bound, in bytes, of the filter of stored keys that lets writes to new keys skip the storage read (past it more reads reach storage; no key is lost)")
	fl.Int64Var(&f.cfg.MinFreeSpace, "min-free-space", replica.DefaultMinFreeSpace, "free space, in bytes, kept on the data directory's file system: below it the node refuses writes to its own store at once (disk full; writes it replicates go to the other replicas) until space is freed")
	fl.DurationVar(&f.cfg.DiskCheckInterval, "disk-check-interval", replica.DefaultDiskCheckInterval, "how often the free space of the data directory is measured")
	fl.DurationVar(&f.cfg.StorageLogInterval, "storage-log-interval", replica.DefaultLogInterval, "least time between two log lines about the same repeated storage trouble (disk full, background errors)")
	fl.BoolVar(&f.hinted, "hinted-handoff", true, "keep hints for replicas that miss writes and use sloppy quorum (false: rely on anti-entropy)")
	fl.DurationVar(&f.cfg.HintWindow, "hint-window", 3*time.Hour, "stop storing hints for a replica whose oldest pending hint is older than this")
	fl.IntVar(&f.cfg.MaxHintsPerTarget, "max-hints-per-target", 100_000, "cap on hints held for one replica")
	fl.Int64Var(&f.cfg.MaxHintBytesPerTarget, "max-hint-bytes-per-target", 256<<20, "cap on hint bytes held for one replica")
	fl.DurationVar(&f.cfg.AntiEntropyInterval, "anti-entropy-interval", 5*time.Minute, "time between anti-entropy rounds (0 turns the periodic rounds off; `quorumkv repair` still works)")
	fl.DurationVar(&f.cfg.RegisterGCInterval, "register-gc-interval", node.DefaultRegisterGCInterval, "collect deleted registers this often (raising each partition's ballot floor); negative: never")
	fl.DurationVar(&f.cfg.TombstoneGrace, "tombstone-grace", 24*time.Hour, "keep a tombstone this long after every replica holds it (must exceed --hint-window; hints older than half of it are dropped)")
	fl.IntVar(&f.cfg.MaxValueSize, "max-value-size", 1<<20, "largest value accepted, in bytes")
	fl.DurationVar(&f.cfg.HedgeAfter, "hedge-after", coordinator.DefaultHedgeAfter, "a read still waiting this long for the replicas it asked also asks the next replica for each silent one (negative: never)")
	fl.DurationVar(&f.cfg.QuietAfter, "quiet-after", peer.DefaultQuietAfter, "treat a peer that leaves work unanswered this long like a down one (asked last, hinted instead of waited on) until it answers again")
	registerLimitFlags(fl, &f.cfg.Limits)
	f.faults.register(cmd)
	fl.StringVar(&f.gossipProfile, "gossip-profile", "lan", "failure-detection timers: lan (seconds) or local (sub-second, for tests)")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

func (f *serverFlags) run(stderr io.Writer) error {
	logger, err := newLogger(stderr, f.logLevel, f.logFormat)
	if err != nil {
		return err
	}
	switch f.gossipProfile {
	case "lan":
	case "local":
		local := node.LocalConfig()
		f.cfg.GossipTimers, f.cfg.RejoinInterval = local.GossipTimers, local.RejoinInterval
		f.cfg.ParkAfter, f.cfg.StuckAfter = local.ParkAfter, local.StuckAfter
	default:
		return usagef("unknown --gossip-profile %q (want lan or local)", f.gossipProfile)
	}
	f.cfg.TLS = security.ServerConfig{Client: f.tls.files(), Peer: f.peerTLS.files(), RequireClientCert: f.requireClientCert}
	if err := f.cfg.TLS.Validate(); err != nil {
		return tlsUsage(err)
	}
	if f.gossipKeyFile != "" {
		b, err := os.ReadFile(f.gossipKeyFile)
		if err != nil {
			return usagef("--gossip-key: %v", err)
		}
		if f.cfg.GossipKey, err = node.ParseGossipKey(strings.TrimSpace(string(b))); err != nil {
			return usagef("--gossip-key %s: %v", f.gossipKeyFile, err)
		}
	}
	f.cfg.NoSync = !f.fsync
	if f.cfg.SyncWindow < 0 || f.cfg.SyncWindow > time.Second {
		return usagef("--fsync-window %v: want 0 to 1s", f.cfg.SyncWindow)
	}
	if f.cfg.SyncWindow == 0 {
		f.cfg.SyncWindow = -1 // the flag's 0 means no window
	}
	if f.cfg.CacheSize < 1<<20 {
		return usagef("--cache-size %d: want at least 1048576 (1 MiB)", f.cfg.CacheSize)
	}
	if f.cfg.KeyFilterSize < 1<<20 {
		return usagef("--key-filter-size %d: want at least 1048576 (1 MiB)", f.cfg.KeyFilterSize)
	}
	if f.cfg.MinFreeSpace < 1 {
		return usagef("--min-free-space %d: want at least 1 byte (the reserve keeps the storage engine working on a filling disk)", f.cfg.MinFreeSpace)
	}
	if f.cfg.DiskCheckInterval < time.Millisecond || f.cfg.DiskCheckInterval > time.Minute {
		return usagef("--disk-check-interval %v: want 1ms to 1m", f.cfg.DiskCheckInterval)
	}
	if f.cfg.StorageLogInterval < 0 {
		return usagef("--storage-log-interval %v: must not be negative", f.cfg.StorageLogInterval)
	}
	switch f.http {
	case "off":
	case "auto":
		if addr, err := httpadmin.DefaultAddr(f.cfg.Listen); err == nil {
			f.cfg.HTTP, f.cfg.HTTPDerived = addr, true
		} else {
			logger.Warn("admin HTTP port off: no port + 200 for --listen (give --http)", "listen", f.cfg.Listen, "err", err)
		}
	default:
		if _, _, err := net.SplitHostPort(f.http); err != nil {
			return usagef("--http %q: want host:port, auto or off", f.http)
		}
		f.cfg.HTTP = f.http
	}
	switch f.discover {
	case "":
	case "lan":
		f.cfg.DiscoverLAN = true
	default:
		return usagef("unknown --discover %q (want lan)", f.discover)
	}
	f.cfg.DisableHintedHandoff = !f.hinted
	f.cfg.NoAutoJoin = !f.autoJoin
	if f.cfg.AntiEntropyInterval == 0 {
		f.cfg.DisableAntiEntropy = true
	}
	f.cfg.Logger = logger
	if !f.cfg.DisableHintedHandoff && f.cfg.TombstoneGrace <= f.cfg.HintWindow {
		return usagef("--tombstone-grace (%v) must exceed --hint-window (%v), or a late hint could resurrect a reaped delete", f.cfg.TombstoneGrace, f.cfg.HintWindow)
	}
	if err := checkLimitFlags(f.cfg.Limits); err != nil {
		return err
	}
	if err := f.faults.apply(&f.cfg); err != nil {
		return usageError{err}
	}
	if err := f.cfg.Validate(); err != nil {
		return usageError{err}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logger.Debug("scheduler", "gomaxprocs", setServerProcs())
	n, err := node.Start(f.cfg)
	if err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info("signal received; draining")
	return n.Stop(context.Background())
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("unknown --log-level %q (want debug, info, warn or error)", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("unknown --log-format %q (want text or json)", format)
}
