// Package bench is quorumkv's load generator, the library behind
// `quorumkv bench` (cassandra-stress, memtier and YCSB are its models).
//
// A run drives one Driver (quorumkv, etcd or redis) with a YCSB-style
// workload: a mix of reads, updates, inserts and read-modify-writes over a key
// space chosen with a uniform, zipfian (YCSB's scrambled zipfian, theta 0.99),
// latest or sequential distribution. Clients run closed loop (each does one
// operation after another) or open loop at a fixed rate: then every operation
// has an intended start time i/R after the run's start, and its latency is
// measured from that time, so a stall is charged to every operation it
// delayed (no coordinated omission).
//
// The register and lock workloads (cas, hot-incr, lock) need a driver that
// also implements RegisterDriver or LockDriver (quorumkv, etcd): a
// compare-and-set by the version the client last saw for the key, an
// increment of one key shared by every client, and a lock acquired and
// released on names of each client's own. They count conflicts, driver
// retries and quorumkv's receipts (fast-path share, rounds per operation).
// Every run reports each client's longest wait between completed
// operations, the starvation check.
//
// Each client records into its own HDR histograms; a collector merges them
// once per interval into the progress series and the run's totals. Key and
// value streams are deterministic for a given seed and client.
package bench
